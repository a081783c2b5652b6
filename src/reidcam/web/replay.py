"""Play file cameras (videos, image folders) like live ones: paced and looping.

A recording read as fast as the CPU allows burns a core and ends in seconds; a
demo camera in the web app should instead show people walking at a natural
rate, over and over, so a person picked in the gallery is seen again later.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial

from reidcam.capture import open_source
from reidcam.capture.base import FrameSource, SourceState, SourceStatus
from reidcam.config import AppConfig
from reidcam.core.types import Frame
from reidcam.pipeline.build import build_cameras
from reidcam.pipeline.camera import CameraUnit

log = logging.getLogger(__name__)


class ReplaySource:
    """Wraps a finite source: ``fps`` pacing, and a fresh pass when it ends if ``loop``.

    It reports ``is_live`` so the runner reads it through a latest-frame grabber
    thread, where the pacing sleep never blocks the other cameras. Frames are
    renumbered so indices keep growing across passes (trackers and sighting
    books expect that); ``Frame.name`` keeps the file name, or ``frame000123``
    (position in the pass) for videos, so a replayed frame can be recognised.

    Args:
        camera_id: the camera's id.
        factory: builds a new, unopened inner source (one per pass).
        fps: frames per second to play at; None or <= 0 plays as fast as read.
        loop: start a new pass when the inner source ends.
    """

    def __init__(
        self, camera_id: str, factory: Callable[[], FrameSource], fps: float | None = 5.0, loop: bool = True
    ) -> None:
        self.camera_id = camera_id
        self._factory = factory
        self.fps = fps if fps and fps > 0 else None
        self.loop = loop
        self._inner: FrameSource | None = None
        self._closed = threading.Event()
        self._count = 0
        self._passes = 0
        self._pass_frames = 0
        self._next_due = 0.0
        self._ended = False

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
        """The next frame, after waiting for its slot; None once ended or closed."""
        if self._closed.is_set() or self._ended:
            return None
        self.open()
        if not self._wait_for_slot():
            return None
        frame = self._inner.read() if self._inner is not None else None
        if frame is None:
            frame = self._next_pass()
        if frame is None:
            self._ended = True
            return None
        self._pass_frames += 1
        out = replace(frame, index=self._count, name=frame.name or f"frame{frame.index:06d}")
        self._count += 1
        return out

    def _wait_for_slot(self) -> bool:
        if self.fps is None:
            return True
        now = time.monotonic()
        if self._next_due > now and self._closed.wait(self._next_due - now):
            return False
        self._next_due = max(self._next_due, now) + 1.0 / self.fps
        return True

    def _next_pass(self) -> Frame | None:
        if not self.loop or self._pass_frames == 0 or self._closed.is_set():
            return None
        if self._inner is not None:
            self._inner.close()
        self._inner = self._factory()
        self._inner.open()
        self._passes += 1
        self._pass_frames = 0
        log.debug("camera %s: replay pass %d", self.camera_id, self._passes)
        return self._inner.read()

    def close(self) -> None:
        self._closed.set()
        if self._inner is not None:
            self._inner.close()

    def status(self) -> SourceStatus:
        if self._inner is None:
            return SourceStatus(self.camera_id, SourceState.STARTING, 0, 0, None, None, "replay (not open)")
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


def replay_cameras(cfg: AppConfig, fps: float | None, loop: bool) -> list[CameraUnit]:
    """``build_cameras`` with every file camera wrapped in a :class:`ReplaySource`.

    ``loop`` applies to every file camera; a camera whose config says
    ``loop: true`` loops either way. Live cameras are left as they are.
    """
    units = build_cameras(cfg)
    by_id = {c.id: c for c in cfg.cameras}
    for unit in units:
        if unit.source.is_live:
            continue
        cam = by_id[unit.camera_id]
        once = cam.model_copy(update={"loop": False})  # the replay loops; the inner source plays one pass
        unit.source = ReplaySource(unit.camera_id, partial(open_source, once), fps, loop or cam.loop)
    return units
