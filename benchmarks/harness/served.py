"""Run the real ``reidcam serve`` as a child process for the soak and load benchmarks.

A separate process, not an in-process app: the figures (RSS, descriptors, threads, CPU) must
be the server's alone, and a leak in the client must not count against the server. The two
sample videos play as looping, paced cameras (``serve`` wraps file cameras in a replay that
starts a new pass at the end), so the cameras never end however long the run.
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from reidcam.core.errors import ReidcamError
from reidcam.perf.sources import camera_videos, media_dir

_MAIN = "import sys; from reidcam.cli import main; sys.exit(main(sys.argv[1:]))"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class ServeOptions:
    """How to start the server: cameras from the sample videos, paced at ``fps`` and looping."""

    media_dir: Path
    cameras: int = 2
    fps: float = 10.0
    weights_dir: Path | None = None
    data_dir: Path | None = None
    port: int = 0
    extra_args: list[str] = field(default_factory=list)


def add_server_args(p: argparse.ArgumentParser, fps: float) -> None:
    """The options of the soak and load scripts that say which server to start."""
    p.add_argument("--fps", type=float, default=fps, help=f"pace of the video cameras (default {fps:g}/s)")
    p.add_argument("--cameras", type=int, default=2, help="cameras, cycling the two videos (default 2)")
    p.add_argument("--media-dir", help="sample videos (else $REIDCAM_MEDIA_DIR)")
    p.add_argument("--weights-dir", help="model weights (else $REIDCAM_WEIGHTS_DIR)")


def server_options(args: argparse.Namespace, data_dir: Path | None = None) -> ServeOptions:
    """``ServeOptions`` from the options of ``add_server_args``."""
    return ServeOptions(
        media_dir=media_dir(args.media_dir),
        cameras=args.cameras,
        fps=args.fps,
        weights_dir=Path(args.weights_dir) if args.weights_dir else None,
        data_dir=data_dir,
    )


def serve_command(opts: ServeOptions, data_dir: Path, port: int) -> list[str]:
    """The argv of ``reidcam serve`` for ``opts`` (detection starts at once, loopback only)."""
    cmd = [sys.executable, "-c", _MAIN, "serve", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--data-dir", str(data_dir), "--fps", f"{opts.fps:g}", "--start"]
    for cam_id, video in camera_videos(opts.cameras, opts.media_dir):
        cmd += ["--source", f"{cam_id}={video}"]
    if opts.weights_dir is not None:
        cmd += ["--weights-dir", str(opts.weights_dir)]
    return cmd + opts.extra_args


class ServerProcess:
    """``with ServerProcess(opts) as srv:`` starts the server and waits until it answers.

    ``srv.url`` is its base URL, ``srv.pid`` the process to probe, ``srv.log_path`` its stderr.
    Leaving the block stops it with SIGINT (what Ctrl-C sends) and kills it if it lingers.
    """

    def __init__(self, opts: ServeOptions, start_timeout_s: float = 120.0) -> None:
        self.opts = opts
        self.start_timeout_s = start_timeout_s
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._log: IO[bytes] | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.log_path = Path()
        self.killed = False

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise ReidcamError("the server is not running")
        return self.proc.pid

    def __enter__(self) -> ServerProcess:
        data_dir = self.opts.data_dir
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="reidcam-soak-")
            data_dir = Path(self._tmp.name)
        data_dir.mkdir(parents=True, exist_ok=True)
        port = self.opts.port or free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = data_dir / "server.log"
        self._log = self.log_path.open("wb")
        cmd = serve_command(self.opts, data_dir / "data", port)
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        import httpx

        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                tail = self.log_tail()
                raise ReidcamError(f"the server exited with {self.proc.returncode}; its log ends:\n{tail}")
            try:
                if httpx.get(self.url + "/api/status", timeout=2).json().get("running"):
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.5)
        raise ReidcamError(
            f"the server did not answer within {self.start_timeout_s:g} s; see {self.log_path}"
        )

    def stop(self, timeout_s: float = 20.0) -> int | None:
        """SIGINT, then SIGKILL after ``timeout_s`` (sets ``killed``); returns the exit code.

        0 or 130 (``reidcam: interrupted``) is a clean stop: uvicorn may re-raise the Ctrl-C.
        """
        code = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
            try:
                code = self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.killed = True
                code = self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __exit__(self, *exc: Any) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
