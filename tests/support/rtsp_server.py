"""A real RTSP camera on 127.0.0.1 in a child process, for fault tests (kill it, start it again).

The server is GStreamer's ``gst-rtsp-server`` driven through PyGObject, which comes from
Debian packages, not from pip: it runs under the *system* Python (``/usr/bin/python3``) as
a subprocess of the test, executing this very file as a script. The packages it needs:

    apt-get install gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 gir1.2-gstreamer-1.0 \\
        gstreamer1.0-plugins-base gstreamer1.0-plugins-good python3-gi

:func:`rtsp_unavailable` says why the server cannot run here (so a test can skip with that
reason); :class:`RtspServerProcess` starts, kills and restarts it on the same port. The
stream is a moving test pattern as JPEG over RTP (``rtpjpegpay``), 160x128 at ``fps``.
Importing this module starts nothing.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
APT_PACKAGES = (
    "gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 gir1.2-gstreamer-1.0 "
    "gstreamer1.0-plugins-base gstreamer1.0-plugins-good python3-gi"
)
_ELEMENTS = ("videotestsrc", "jpegenc", "rtpjpegpay")
_CHECK = (
    "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
    "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
    f"missing = [e for e in {_ELEMENTS!r} if Gst.ElementFactory.find(e) is None]; "
    "print(' '.join(missing))"
)


def rtsp_unavailable(python: str = SYSTEM_PYTHON) -> str | None:
    """Why the RTSP server cannot run here, or None when it can."""
    hint = f"apt-get install {APT_PACKAGES}"
    if not Path(python).is_file():
        return f"no system Python at {python} for the GStreamer RTSP server ({hint})"
    try:
        done = subprocess.run([python, "-c", _CHECK], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {python}: {exc}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"GStreamer RTSP server bindings missing ({last}); {hint}"
    if done.stdout.strip():
        return f"GStreamer elements missing: {done.stdout.strip()}; {hint}"
    return None


class RtspServerProcess:
    """``rtsp://127.0.0.1:PORT/cam`` served by a child process that a test can kill and restart.

    Args:
        fps: frame rate of the test pattern.
        port: 0 lets the first start pick a free port; restarts reuse it.
        python: the interpreter with PyGObject and GStreamer (the system one).
    """

    def __init__(self, fps: int = 20, port: int = 0, python: str = SYSTEM_PYTHON) -> None:
        self.fps = int(fps)
        self.port = port
        self.python = python
        self.path = "/cam"
        self._proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}{self.path}"

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> RtspServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()

    def start(self, timeout_s: float = 20.0) -> RtspServerProcess:
        """Start the server and wait until it listens.

        Raises:
            RuntimeError: it exited or did not report ready within ``timeout_s``.
        """
        if self.alive:
            return self
        cmd = [self.python, __file__, str(self.port), self.path, str(self.fps)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
        )
        self.port = self._wait_ready(self._proc, timeout_s)
        return self

    def kill(self) -> None:
        """Kill the server at once (SIGKILL, like a camera losing power); safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        proc.wait(10.0)
        if proc.stdout is not None:
            proc.stdout.close()

    @staticmethod
    def _wait_ready(proc: subprocess.Popen[str], timeout_s: float) -> int:
        """The port from the child's ``ready PORT`` line; kills the child if it never comes."""
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("ready "):
            proc.kill()
            proc.wait(10.0)
            raise RuntimeError(f"RTSP server did not start (exit code {proc.returncode}, said {line!r})")
        return int(line.split()[1])


def _serve(port: int, path: str, fps: int) -> None:  # pragma: no cover - runs in the child
    """The child: a GstRtspServer on 127.0.0.1 with one shared test-pattern stream."""
    import gi  # type: ignore[import-not-found]  # system PyGObject, not in the venv

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer  # type: ignore[import-not-found]

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        "( videotestsrc is-live=true pattern=ball ! "
        f"video/x-raw,format=I420,width=160,height=128,framerate={fps}/1 ! "
        "jpegenc ! rtpjpegpay name=pay0 pt=26 )"
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory(path, factory)
    if not server.attach(None):
        sys.exit(f"cannot listen on 127.0.0.1:{port}")
    sys.stdout.write(f"ready {server.get_bound_port()}\n")
    sys.stdout.flush()
    GLib.MainLoop().run()


if __name__ == "__main__":  # pragma: no cover - the child process entry point
    _serve(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
