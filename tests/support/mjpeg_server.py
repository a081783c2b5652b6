"""A real HTTP MJPEG camera on 127.0.0.1 that can be told to fail, for fault tests.

Fakes of ``cv2.VideoCapture`` test the reconnect logic, but not how OpenCV's FFmpeg
backend behaves when a real camera dies, hangs or talks nonsense. :class:`MjpegServer`
serves ``multipart/x-mixed-replace`` JPEG frames like an IP camera's ``/video.mjpg`` and
can switch, at any moment, to one of the faults a network camera shows in the field:

- ``stop()``: the camera is off: every open connection is closed and new ones are
  refused (the listening socket is closed); ``come_back()`` listens again on the same port.
- ``stall()``: the camera hangs: connections stay open and nothing more is sent (a new
  connection is accepted but gets no reply).
- ``garbage()``: the camera sends random bytes where the JPEG parts should be.
- ``come_back()``: healthy again, from any of the above.

Frames are small solid images whose grey level steps with the frame number, so a test can
tell that frames are new. Threads are daemons and :meth:`close` (or the context manager)
shuts everything down; nothing happens on import.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

logger = logging.getLogger(__name__)

BOUNDARY = "reidcamframe"
_N_FRAMES = 16  # distinct pre-encoded frames, cycled


class Mode(str, Enum):
    SERVING = "serving"
    STALLED = "stalled"
    GARBAGE = "garbage"
    STOPPED = "stopped"


def encode_frames(n: int, width: int, height: int) -> list[bytes]:
    """``n`` JPEGs of a grey image whose level steps with the index (BGR uint8 before encoding)."""
    out = []
    for i in range(n):
        img = np.full((height, width, 3), 40 + (i * 200) // max(1, n - 1), np.uint8)
        cv2.rectangle(img, (width // 4, height // 4), (width // 2, height - 10), (30, 30, 220), -1)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
        if not ok:  # pragma: no cover - OpenCV always encodes a plain image
            raise RuntimeError("cannot encode a JPEG frame")
        out.append(buf.tobytes())
    return out


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: object) -> None:  # quiet: tests read the log
        logger.debug("mjpeg server: " + format, *args)

    def do_GET(self) -> None:
        cam = self.server.camera
        if self.path.split("?")[0] != cam.path:
            self.send_error(404)
            return
        cam._track(self.connection, add=True)
        try:
            self._serve(cam)
        except OSError:  # the client went away or stop() closed the socket
            pass
        finally:
            cam._track(self.connection, add=False)

    def _serve(self, cam: MjpegServer) -> None:
        if not cam._wait_while_stalled():
            return
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        while True:
            if not cam._wait_while_stalled():
                return
            part = cam._next_part()
            if part is None:
                return
            self.wfile.write(part)
            self.wfile.flush()
            time.sleep(1.0 / cam.fps)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], camera: MjpegServer) -> None:
        self.camera = camera
        super().__init__(address, _Handler)


class MjpegServer:
    """An MJPEG-over-HTTP camera on ``host`` (loopback) with switchable faults.

    Args:
        fps: frames per second sent to each client.
        width, height: frame size in pixels.
        path: the URL path of the stream.
        host: interface to bind; keep the loopback default in tests.
        port: 0 picks a free port (kept across ``stop``/``come_back``).
    """

    def __init__(
        self,
        fps: float = 20.0,
        width: int = 160,
        height: int = 120,
        path: str = "/video.mjpg",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.fps = float(fps)
        self.path = path
        self.host = host
        self.port = port
        self._frames = encode_frames(_N_FRAMES, width, height)
        self._mode = Mode.STOPPED
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._framed_garbage = False
        self.frames_sent = 0
        self.connections = 0  # GET requests for the stream, over the server's life

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    @property
    def mode(self) -> Mode:
        return self._mode

    def __enter__(self) -> MjpegServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> MjpegServer:
        """Listen (again) and serve frames; the port stays the same after the first start."""
        with self._lock:
            if self._closed:
                raise RuntimeError("MjpegServer is closed")
            self._mode = Mode.SERVING
            if self._server is None:
                self._listen()
        return self

    def come_back(self) -> None:
        """Healthy again after any fault."""
        self.start()

    def stall(self) -> None:
        """Keep every connection open but send nothing (new ones are accepted, never answered)."""
        self._set_mode(Mode.STALLED)

    def garbage(self, framed: bool = False) -> None:
        """Send random bytes instead of JPEG parts.

        Args:
            framed: keep the multipart headers and boundaries and send random bytes only
                as each part's body (a camera whose encoder went bad); else random bytes
                replace the whole stream (a broken proxy, a wrong port).
        """
        self._framed_garbage = framed
        self._set_mode(Mode.GARBAGE)

    def stop(self) -> None:
        """Camera off: close every connection and refuse new ones until ``come_back``."""
        with self._lock:
            self._mode = Mode.STOPPED
            server, self._server = self._server, None
            thread, self._thread = self._thread, None
            conns = list(self._conns)
        if server is not None:
            server.shutdown()
            server.server_close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join(5.0)

    def close(self) -> None:
        """Stop for good; safe to call twice."""
        self.stop()
        self._closed = True

    def active_connections(self) -> int:
        with self._lock:
            return len(self._conns)

    # -- used by the handler threads ------------------------------------------
    def _listen(self) -> None:
        self._server = _Server((self.host, self.port), self)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"mjpeg-server-{self.port}",
        )
        self._thread.start()

    def _set_mode(self, mode: Mode) -> None:
        with self._lock:
            if self._server is None:
                raise RuntimeError("the server is stopped; call come_back() first")
            self._mode = mode

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(conn)
                self.connections += 1
            else:
                self._conns.discard(conn)

    def _wait_while_stalled(self) -> bool:
        """Sleep while stalled; False once the server stopped (the handler must return)."""
        while self._mode is Mode.STALLED:
            time.sleep(0.02)
        return self._mode is not Mode.STOPPED

    def _next_part(self) -> bytes | None:
        """The next multipart chunk for the current mode, None when stopped."""
        mode = self._mode
        if mode is Mode.STOPPED:
            return None
        if mode is Mode.GARBAGE and not self._framed_garbage:
            return os.urandom(2048)
        with self._lock:
            jpeg = self._frames[self.frames_sent % len(self._frames)]
            self.frames_sent += 1
        if mode is Mode.GARBAGE:
            jpeg = os.urandom(len(jpeg))
        head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
        return head.encode("ascii") + jpeg + b"\r\n"
