"""A recording played as a live camera: at a fixed frame rate, looping, newest frame only.

A recording read as fast as the CPU allows burns a core and ends in seconds. The web app's
demo cameras and the benchmark's live mode instead play it the way a real camera delivers:
at its frame rate, over and over, without waiting for the model. Read through a
``LatestFrameGrabber`` (``is_live`` is True), frames the pipeline is too slow for are dropped
and counted, and the latency from capture to match is real.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

from reidcam.capture.base import FrameSource, SourceState, SourceStatus
from reidcam.core.types import Frame

log = logging.getLogger(__name__)


class PacedSource:
    """Plays ``factory()`` sources one after another at ``fps``, renumbering frames.

    Frames are renumbered so indices keep growing across passes (trackers and sighting books
    expect that) and stamped with the time they are delivered; ``Frame.name`` keeps the file
    name, or ``frame000123`` (position in the pass) for videos, so a replayed frame can be
    recognised.

    Args:
        camera_id: the camera's id.
        factory: builds a new, unopened finite source (one per pass).
        fps: frames per second to deliver; None plays as fast as frames are read.
        loop: start a new pass when a pass ends (else the source ends).
        max_frames: end after this many frames (None = never, with ``loop``).

    Raises:
        ValueError: ``fps`` is not positive.
    """

    def __init__(
        self,
        camera_id: str,
        factory: Callable[[], FrameSource],
        fps: float | None,
        loop: bool = True,
        max_frames: int | None = None,
    ) -> None:
        if fps is not None and fps <= 0:
            raise ValueError("fps must be > 0 (None plays unpaced)")
        self.camera_id = camera_id
        self.fps = None if fps is None else float(fps)
        self.loop = loop
        self._factory = factory
        self._max_frames = max_frames
        self._inner: FrameSource | None = None
        self._closed = threading.Event()
        self._count = 0
        self._passes = 0
        self._pass_frames = 0
        self._next_due = 0.0
        self._ended = False
        self.last_decode_ms = 0.0  # the grabber reports this, not the pacing sleep

    @property
    def is_live(self) -> bool:
        return True

    def open(self) -> None:
        """Open the first pass. Raises SourceError if the file or folder is unusable."""
        if self._inner is None:
            inner = self._factory()
            inner.open()
            self._inner, self._passes = inner, 1

    def read(self) -> Frame | None:
        """The next frame when it is due (sleeps until then), or None once ended or closed."""
        if self._closed.is_set() or self._ended:
            return None
        if self._max_frames is not None and self._count >= self._max_frames:
            self._ended = True
            return None
        self.open()
        t0 = time.perf_counter()
        frame = self._inner.read() if self._inner is not None else None
        if frame is None:
            frame = self._next_pass()
        self.last_decode_ms = (time.perf_counter() - t0) * 1000.0
        if frame is None:
            self._ended = True
            return None
        if not self._wait_for_slot():
            return None
        self._pass_frames += 1
        name = frame.name or f"frame{frame.index:06d}"
        out = replace(frame, index=self._count, name=name, captured_at=time.time())
        self._count += 1
        return out

    def _wait_for_slot(self) -> bool:
        """The first frame at once, then one per period; a late frame is not followed by a burst."""
        if self.fps is None:
            return True
        now, period = time.monotonic(), 1.0 / self.fps
        self._next_due = now if self._count == 0 else max(self._next_due + period, now - period)
        return not self._closed.wait(max(0.0, self._next_due - now))

    def _next_pass(self) -> Frame | None:
        if not self.loop or self._pass_frames == 0 or self._closed.is_set():
            return None  # an empty pass would loop forever
        if self._inner is not None:
            self._inner.close()
        self._inner = self._factory()
        self._inner.open()
        self._passes += 1
        self._pass_frames = 0
        log.debug("camera %s: pass %d", self.camera_id, self._passes)
        return self._inner.read()

    def close(self) -> None:
        self._closed.set()
        if self._inner is not None:
            self._inner.close()

    def status(self) -> SourceStatus:
        if self._inner is None:
            state = SourceState.STOPPED if self._closed.is_set() else SourceState.STARTING
            return SourceStatus(self.camera_id, state, 0, 0, None, None, "paced (not open)")
        inner = self._inner.status()
        state = inner.state
        if self._closed.is_set():
            state = SourceState.STOPPED
        elif self._ended:
            state = SourceState.ENDED
        elif state is SourceState.ENDED:
            state = SourceState.LIVE  # between two passes
        pace = f"{self.fps:g} fps" if self.fps else "unpaced"
        how = f"loop, pass {self._passes}" if self.loop else "once"
        return replace(
            inner, state=state, frames_read=self._count, description=f"{inner.description} ({how}, {pace})"
        )
