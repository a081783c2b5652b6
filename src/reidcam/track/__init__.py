"""reidcam.track: the Tracker protocol and the ByteTrack/BoT-SORT adapter."""

from __future__ import annotations

from reidcam.config.schema import TrackerConfig
from reidcam.track.base import Tracker
from reidcam.track.bytetrack import ByteTrackTracker

__all__ = ["ByteTrackTracker", "Tracker", "build_tracker"]


def build_tracker(cfg: TrackerConfig) -> Tracker:
    """Build one camera's tracker; call once per camera, instances never share ids.

    Raises:
        DependencyError: ultralytics (or lap) is not installed.
    """
    return ByteTrackTracker(cfg)
