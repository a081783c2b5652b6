"""Decode a file camera ahead on its own thread, so decoding overlaps inference.

A finite source (video file, image folder) must not drop frames: a search over a recording
has to look at every frame. Read on the inference thread, though, each frame's decode
(2-5 ms for 768x576 MJPEG or H.264) adds to the step time. :class:`PrefetchReader` reads on
a daemon thread into a small bounded queue (OpenCV releases the GIL while decoding) and
blocks when the queue is full, so it never runs more than ``depth`` frames ahead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from reidcam.capture.base import FrameSource
from reidcam.core.types import Frame

logger = logging.getLogger(__name__)

MAX_CONSECUTIVE_ERRORS = 10


class PrefetchReader:
    """Reads ``source`` on a thread into a queue of at most ``depth`` frames; drops nothing.

    A read that raises is logged and counted (``take_errors``) and reading goes on, as it
    would on the caller's thread; after ``MAX_CONSECUTIVE_ERRORS`` failures in a row the
    source is given up. ``stop`` closes the source and joins the thread.

    Args:
        source: an opened (or lazily opening) finite source.
        depth: frames decoded ahead.
        on_frame: called from the reader thread after each frame and at the end.
        autostart: start the thread in the constructor.
    """

    dropped = 0  # same counters as LatestFrameGrabber: a prefetch never drops

    def __init__(
        self,
        source: FrameSource,
        depth: int = 2,
        *,
        on_frame: Callable[[], None] | None = None,
        autostart: bool = True,
    ) -> None:
        self.source = source
        self.depth = max(1, int(depth))
        self._on_frame = on_frame
        self._cond = threading.Condition()
        self._queue: deque[tuple[Frame, float]] = deque()
        self._stop = threading.Event()
        self._ended = False
        self._errors = 0
        self.grabbed = 0
        self.last_decode_ms = 0.0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"prefetch-{source.camera_id}", daemon=True)
        if autostart:
            self._thread.start()

    def start(self) -> PrefetchReader:
        if not self._thread.is_alive() and not self._thread.ident:
            self._thread.start()
        return self

    @property
    def ended(self) -> bool:
        """True once the source returned None, failed for good, or ``stop`` was called."""
        return self._ended

    @property
    def exhausted(self) -> bool:
        """True once ended with nothing queued: ``get`` will never return a frame again."""
        with self._cond:
            return self._ended and not self._queue

    def take_errors(self) -> int:
        """Read failures since the last call (the camera unit adds them to its error count)."""
        with self._cond:
            n, self._errors = self._errors, 0
            return n

    def get(self, timeout_s: float | None = None) -> Frame | None:
        """The oldest queued frame, waiting up to ``timeout_s``; None on timeout or when exhausted."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            while not self._queue and not self._ended:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            if not self._queue:
                return None
            frame, self.last_decode_ms = self._queue.popleft()
            self._cond.notify_all()  # room for the reader
            return frame

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        self.source.close()
        self._finish()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set() and failures < MAX_CONSECUTIVE_ERRORS:
            t0 = time.perf_counter()
            try:
                frame = self.source.read()
            except Exception as exc:  # counted and logged; the camera goes on like a direct read would
                failures += 1
                self.error = exc
                with self._cond:
                    self._errors += 1
                logger.exception("camera %r: reading a frame failed", self.source.camera_id)
                continue
            failures = 0
            if frame is None:
                break
            self._put(frame, (time.perf_counter() - t0) * 1000.0)
        self._finish()

    def _put(self, frame: Frame, decode_ms: float) -> None:
        with self._cond:
            while len(self._queue) >= self.depth and not self._stop.is_set():
                self._cond.wait(0.1)
            self._queue.append((frame, decode_ms))
            self.grabbed += 1
            self._cond.notify_all()
        if self._on_frame is not None:
            self._on_frame()

    def _finish(self) -> None:
        with self._cond:
            self._ended = True
            self._cond.notify_all()
        if self._on_frame is not None:
            self._on_frame()
