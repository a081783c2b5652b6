"""The Tracker protocol: one instance per camera, ids owned by the instance."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from reidcam.core.types import Detections, Frame, Tracks


@runtime_checkable
class Tracker(Protocol):
    def update(self, detections: Detections, frame: Frame) -> Tracks:
        """Associate this frame's detections with existing tracks."""
        ...

    def reset(self) -> None:
        """Forget all tracks (e.g. after a camera reconnect); never touches other instances."""
        ...
