"""A recording played as a live camera: at a fixed frame rate, looping, newest frame only.

Used to measure the pipeline the way a real camera loads it: the camera does not wait for
the model. Read through a ``LatestFrameGrabber`` (``is_live`` is True), frames the pipeline
is too slow for are dropped and counted, and the latency from capture to match is real.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace

from reidcam.capture.base import FrameSource, SourceState, SourceStatus
from reidcam.core.types import Frame


class PacedSource:
    """Plays ``factory()`` sources one after another at ``fps``, renumbering frames.

    Args:
        camera_id: the camera's id.
        factory: builds a new, unopened finite source (one per pass).
        fps: frames per second to deliver.
        loop: start a new pass when a pass ends (else the source ends).
        max_frames: end after this many frames (None = never, with ``loop``).
    """

    def __init__(
        self,
        camera_id: str,
        factory: Callable[[], FrameSource],
        fps: float,
        loop: bool = True,
        max_frames: int | None = None,
    ) -> None:
        if fps <= 0:
            raise ValueError("fps must be > 0")
        self.camera_id = camera_id
        self.fps = float(fps)
        self._factory = factory
        self._loop = loop
        self._max_frames = max_frames
        self._inner: FrameSource | None = None
        self._closed = threading.Event()
        self._count = 0
        self._next_due = 0.0
        self._state = SourceState.STARTING
        self.last_decode_ms = 0.0  # the grabber reports this, not the pacing sleep

    @property
    def is_live(self) -> bool:
        return True

    def open(self) -> None:
        if self._inner is None:
            self._inner = self._factory()
            self._inner.open()
            self._state = SourceState.LIVE

    def read(self) -> Frame | None:
        """The next frame when it is due (sleeps until then), or None once ended or closed."""
        if self._closed.is_set() or (self._max_frames is not None and self._count >= self._max_frames):
            self._state = SourceState.ENDED if not self._closed.is_set() else SourceState.STOPPED
            return None
        t0 = time.perf_counter()
        frame = self._next_inner()
        self.last_decode_ms = (time.perf_counter() - t0) * 1000.0
        if frame is None:
            self._state = SourceState.ENDED
            return None
        now, period = time.monotonic(), 1.0 / self.fps
        # The first frame at once, then one per period; a late frame is not followed by a burst.
        self._next_due = now if self._count == 0 else max(self._next_due + period, now - period)
        if self._closed.wait(max(0.0, self._next_due - now)):
            return None
        out = replace(frame, index=self._count, captured_at=time.time())
        self._count += 1
        return out

    def _next_inner(self) -> Frame | None:
        self.open()
        assert self._inner is not None
        frame = self._inner.read()
        if frame is None and self._loop:
            self._inner.close()
            self._inner = None
            self.open()
            frame = self._inner.read()  # type: ignore[union-attr]
        return frame

    def close(self) -> None:
        self._closed.set()
        if self._inner is not None:
            self._inner.close()
        self._state = SourceState.STOPPED

    def status(self) -> SourceStatus:
        return SourceStatus(
            self.camera_id, self._state, self._count, 0, None, None, f"paced {self.fps:g} fps"
        )
