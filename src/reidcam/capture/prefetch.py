"""Decode a file camera ahead on its own thread, so decoding overlaps inference.

A finite source (video file, image folder) must not drop frames: a search over a recording
has to look at every frame. Read on the inference thread, though, each frame's decode
(2-5 ms for 768x576 MJPEG or H.264) adds to the step time. :class:`PrefetchReader` reads on
a daemon thread into a small bounded queue (OpenCV releases the GIL while decoding) and
blocks when the queue is full, so it never runs more than ``depth`` frames ahead.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from reidcam.capture.base import FrameSource
from reidcam.capture.handoff import ReaderThread
from reidcam.core.types import Frame

logger = logging.getLogger(__name__)

MAX_CONSECUTIVE_ERRORS = 10


class PrefetchReader(ReaderThread):
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
    thread_prefix = "prefetch"

    def __init__(
        self,
        source: FrameSource,
        depth: int = 2,
        *,
        on_frame: Callable[[], None] | None = None,
        autostart: bool = True,
    ) -> None:
        self.depth = max(1, int(depth))
        self._queue: deque[tuple[Frame, float]] = deque()
        self._errors = 0
        super().__init__(source, on_frame=on_frame, autostart=autostart)

    def take_errors(self) -> int:
        """Read failures since the last call (the camera unit adds them to its error count)."""
        with self._cond:
            n, self._errors = self._errors, 0
            return n

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._join(timeout_s)
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

    def _pending(self) -> bool:
        return bool(self._queue)

    def _take(self) -> tuple[Frame, float]:
        return self._queue.popleft()

    def _store(self, frame: Frame, decode_ms: float) -> None:
        while len(self._queue) >= self.depth and not self._stop.is_set():
            self._cond.wait(0.1)  # the consumer's get() notifies when it makes room
        self._queue.append((frame, decode_ms))
