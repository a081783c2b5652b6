"""Per-camera state owned by the runner: source, reader thread, tracker, sighting book, counters."""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field, replace

from reidcam.capture.base import FrameReader, FrameSource
from reidcam.capture.urls import redact_text
from reidcam.core.status import SourceState, SourceStatus
from reidcam.core.types import Frame
from reidcam.pipeline.sightings import SightingBook
from reidcam.track.base import Tracker

log = logging.getLogger(__name__)

FPS_WINDOW_S = 5.0


@dataclass
class CameraUnit:
    """Everything that belongs to one camera and to no other.

    ``grabber`` is the camera's reader thread, set by the runner: for a live source a
    ``LatestFrameGrabber`` (newest frame only, stale ones dropped and counted), for a
    file a ``PrefetchReader`` (decodes a few frames ahead, drops nothing). Without one,
    frames are read on the caller's thread. ``detector_imgsz`` is this camera's detector
    input long side (None = the detector's default).
    """

    camera_id: str
    source: FrameSource
    tracker: Tracker
    book: SightingBook
    grabber: FrameReader | None = None
    detector_imgsz: int | None = None
    ended: bool = False
    frames_processed: int = 0
    errors: int = 0
    last_decode_ms: float = 0.0
    failure: str | None = None  # why the camera could not run at all
    started_at: float = field(default_factory=time.monotonic)
    _fps_window: deque[float] = field(default_factory=deque)

    def next_frame(self, timeout_s: float) -> Frame | None:
        """The next frame to process, or None (nothing new yet, or the source ended)."""
        if self.grabber is not None:
            return self._from_reader(self.grabber, timeout_s)
        t0 = time.perf_counter()
        frame = self.source.read()
        self.last_decode_ms = (time.perf_counter() - t0) * 1000.0
        if frame is None:
            self.ended = True
        return frame

    def _from_reader(self, reader: FrameReader, timeout_s: float) -> Frame | None:
        frame = reader.get(timeout_s)
        self.errors += reader.take_errors()
        if frame is not None:
            self.last_decode_ms = reader.last_decode_ms
        elif reader.exhausted:
            self.ended = True
        return frame

    @property
    def dropped(self) -> int:
        """Frames a live camera delivered that were replaced by a newer one before processing."""
        return self.grabber.dropped if self.grabber is not None else 0

    @property
    def grabbed(self) -> int:
        """Frames read from the source (by the reader thread, or directly)."""
        return self.grabber.grabbed if self.grabber is not None else self.frames_processed

    def mark_processed(self) -> None:
        now = time.monotonic()
        self.frames_processed += 1
        self._fps_window.append(now)
        while self._fps_window and now - self._fps_window[0] > FPS_WINDOW_S:
            self._fps_window.popleft()

    @property
    def fps(self) -> float:
        w = self._fps_window
        if len(w) < 2:
            return 0.0
        return (len(w) - 1) / max(w[-1] - w[0], 1e-6)

    def fault(self, what: str) -> None:
        """Count and log (with this camera's id and the traceback) a failure of this camera's
        work; call it from the ``except`` block that skips that work."""
        self.errors += 1
        log.exception("camera %s: %s", self.camera_id, what)

    def fail(self, exc: BaseException) -> None:
        """The camera cannot run (its source would not open): it ends, and says why."""
        self.ended = True
        self.errors += 1
        self.failure = redact_text(str(exc)) or type(exc).__name__

    def status(self) -> SourceStatus:
        status = self.source.status()
        if self.failure is not None:
            return replace(status, state=SourceState.FAILED, last_error=self.failure)
        return status
