"""TrackCropSink: a few good crops of every track on disk, what ``finetune --from-memory`` learns from.

The identity memory keeps one crop per sighting (its best view); learning what stays the same
about a person needs several views of one track. This sink saves every ``every_n_frames``-th
crop that passed the quality gate, at most ``max_per_track`` per track, under
``<data_dir>/training/tracks/<camera_id>/<track_id>/<captured_at in ms>.jpg``. The builder
(``eval.memory_set``) joins them to the memory's sightings by camera, track id and time, so a
track id reused after a restart never mixes two runs.

The folder lies outside the memory's crop folder: the memory's orphan sweep leaves it alone,
and ``remove_track_crops`` deletes it when a deployment stops collecting.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections import defaultdict
from pathlib import Path

from reidcam.core.events import FrameResult
from reidcam.core.status import SourceStatus
from reidcam.core.types import Sighting
from reidcam.storage.crop_store import CropStore

log = logging.getLogger(__name__)

TRACK_FOLDER = "training/tracks"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def camera_folder(camera_id: str) -> str:
    """The folder name of a camera (ids are already restricted by the config; this keeps it so)."""
    return _SAFE.sub("_", camera_id) or "_"


def crop_name(captured_at: float) -> str:
    """File name of a crop captured at ``captured_at`` (epoch seconds): integer milliseconds."""
    return f"{round(captured_at * 1000):d}.jpg"


class TrackCropSink:
    """EventSink that writes a sample of each track's good crops (never raises on a full disk).

    Args:
        data_dir: the deployment's data directory (the one the identity memory uses).
        every_n_frames: keep one crop of a track every this many frames it was seen in.
        max_per_track: stop saving a track's crops after this many.
        jpeg_quality: JPEG quality of the saved crops.
    """

    def __init__(
        self, data_dir: Path, every_n_frames: int = 2, max_per_track: int = 32, jpeg_quality: int = 90
    ) -> None:
        if every_n_frames < 1 or max_per_track < 1:
            raise ValueError("every_n_frames and max_per_track must be at least 1")
        self.store = CropStore(Path(data_dir), jpeg_quality)
        self.every_n_frames = every_n_frames
        self.max_per_track = max_per_track
        self.saved = 0
        self._seen: dict[tuple[str, int], int] = defaultdict(int)
        self._kept: dict[tuple[str, int], int] = defaultdict(int)

    def on_frame(self, result: FrameResult) -> None:
        frame = result.frame
        for obs in result.observations:
            if obs.track_id is None or obs.crop is None or not obs.quality_ok:
                continue
            key = (frame.camera_id, obs.track_id)
            seen = self._seen[key]
            self._seen[key] = seen + 1
            if seen % self.every_n_frames or self._kept[key] >= self.max_per_track:
                continue
            folder = f"{TRACK_FOLDER}/{camera_folder(frame.camera_id)}/{obs.track_id}"
            rel = f"{folder}/{crop_name(frame.captured_at)}"
            if self.store.save(rel, obs.crop) is not None:
                self._kept[key] += 1
                self.saved += 1

    def on_sighting_closed(self, sighting: Sighting) -> None:
        # A closed track's counters go; a later track reusing the id starts afresh.
        key = (sighting.key.camera_id, sighting.key.track_id)
        self._seen.pop(key, None)
        self._kept.pop(key, None)

    def on_status(self, status: SourceStatus) -> None:
        return None


def remove_track_crops(data_dir: Path) -> None:
    """Delete every saved track crop of a data directory (the memory itself is untouched)."""
    shutil.rmtree(Path(data_dir) / TRACK_FOLDER, ignore_errors=True)
