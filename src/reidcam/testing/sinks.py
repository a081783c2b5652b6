"""An event sink that keeps every event, for tests of the runner and what it feeds."""

from __future__ import annotations

from reidcam.core.events import FrameResult
from reidcam.core.status import SourceStatus
from reidcam.core.types import Sighting


class RecordingSink:
    """Keeps the frames, closed sightings and status reports the runner emits, in order."""

    def __init__(self) -> None:
        self.frames: list[FrameResult] = []
        self.closed: list[Sighting] = []
        self.status: list[SourceStatus] = []

    def on_frame(self, result: FrameResult) -> None:
        self.frames.append(result)

    def on_sighting_closed(self, sighting: Sighting) -> None:
        self.closed.append(sighting)

    def on_status(self, status: SourceStatus) -> None:
        self.status.append(status)

    def indices(self, camera_id: str) -> list[int]:
        """The frame indices processed for ``camera_id``."""
        return [r.frame.index for r in self.frames if r.frame.camera_id == camera_id]

    def matched_cameras(self) -> set[str]:
        """The cameras on which some observation matched a query."""
        return {r.frame.camera_id for r in self.frames for o in r.observations if o.matched}
