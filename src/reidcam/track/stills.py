"""Stills need no tracker: every detection is its own one-frame track.

A tracker links a box to the box it was a moment ago. Photos minutes apart (a dataset's
frames, snapshots of a door camera) have no such moment: linking them glues different people
together or, with confirmation rules, leaves nearly everyone untracked. Each detection here
gets a fresh track id, so each becomes a one-frame sighting of its own.
"""

from __future__ import annotations

import numpy as np

from reidcam.core.types import Detections, Frame, Tracks


class StillsTracker:
    """Tracker for stills: a new id for every detection; ids never repeat within the instance."""

    def __init__(self) -> None:
        self._next_id = 1

    def update(self, detections: Detections, frame: Frame) -> Tracks:
        n = len(detections)
        ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        self._next_id += n
        return Tracks(ids, detections.xyxy, detections.confidence, np.arange(n, dtype=np.int64))

    def reset(self) -> None:
        """Nothing to forget: no track outlives its frame (ids keep counting, never reused)."""
        return None
