"""Per-camera state owned by the runner: source, tracker, sighting book, counters."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from reidcam.capture.base import FrameSource, SourceStatus
from reidcam.core.types import Frame
from reidcam.pipeline.sightings import SightingBook
from reidcam.track.base import Tracker

log = logging.getLogger(__name__)


@dataclass
class CameraUnit:
    """Everything that belongs to one camera and to no other.

    ``grabber`` is set for live sources: a thread that keeps only the newest
    frame so a slow model never makes the camera fall behind.
    """

    camera_id: str
    source: FrameSource
    tracker: Tracker
    book: SightingBook
    grabber: object | None = None
    ended: bool = False
    frames_processed: int = 0
    errors: int = 0
    started_at: float = field(default_factory=time.monotonic)
    _fps_window: list[float] = field(default_factory=list)

    def next_frame(self, timeout_s: float) -> Frame | None:
        """The next frame to process, or None (nothing new yet, or the source ended)."""
        if self.grabber is not None:
            frame: Frame | None = self.grabber.get(timeout_s)  # type: ignore[attr-defined]
            if frame is None and self.grabber.ended:  # type: ignore[attr-defined]
                self.ended = True
            return frame
        frame = self.source.read()
        if frame is None:
            self.ended = True
        return frame

    def mark_processed(self) -> None:
        now = time.monotonic()
        self.frames_processed += 1
        self._fps_window.append(now)
        while self._fps_window and now - self._fps_window[0] > 5.0:
            self._fps_window.pop(0)

    @property
    def fps(self) -> float:
        w = self._fps_window
        if len(w) < 2:
            return 0.0
        return (len(w) - 1) / max(w[-1] - w[0], 1e-6)

    def status(self) -> SourceStatus:
        return self.source.status()
