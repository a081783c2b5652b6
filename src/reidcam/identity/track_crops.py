"""TrackCropSink: a few good crops of every track on disk, what ``finetune --from-memory`` learns from.

The identity memory keeps one crop per sighting (its best view); learning what stays the same
about a person needs several views of one track. This sink saves every ``every_n_frames``-th
crop that passed the quality gate, at most ``max_per_track`` per track, under
``<data_dir>/training/tracks/<camera_id>/<track_id>/<captured_at in ms>.jpg``. The builder
(``eval.memory_set``) joins them to the memory's sightings by camera, track id and time, so a
track id reused after a restart never mixes two runs.

The folder lies outside the memory's crop folder: the memory's orphan sweep leaves it alone,
and ``remove_track_crops`` deletes it when a deployment stops collecting. These crops are
pictures of people like the memory's own, so they go when their sighting goes: deleting a
sighting or an identity, and retention, remove the crops within the sighting's time span
(``remove_span_crops``); retention also removes old crops no kept sighting covers
(``sweep_track_crops``).
"""

from __future__ import annotations

import logging
import re
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from reidcam.core.events import FrameResult
from reidcam.core.status import SourceStatus
from reidcam.core.types import Sighting
from reidcam.storage.crop_store import CropStore

log = logging.getLogger(__name__)

TRACK_FOLDER = "training/tracks"
# A crop belongs to a sighting when its capture time lies within the sighting's span widened by
# this much (the time stamps of rows and file names are rounded differently).
TIME_SLACK_S = 0.5
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class TrackSpan:
    """One sighting's track on one camera, first to last frame (epoch seconds)."""

    camera_id: str
    track_id: int
    first_seen_at: float
    last_seen_at: float

    def covers(self, captured_at: float, slack_s: float = TIME_SLACK_S) -> bool:
        return self.first_seen_at - slack_s <= captured_at <= self.last_seen_at + slack_s


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


def track_folder(data_dir: Path, camera_id: str, track_id: int) -> Path:
    return Path(data_dir) / TRACK_FOLDER / camera_folder(camera_id) / str(track_id)


def _captured_at(path: Path) -> float | None:
    """A crop file's capture time (epoch seconds) from its name; None for any other file."""
    return int(path.stem) / 1000.0 if path.suffix == ".jpg" and path.stem.isdigit() else None


def span_crops(data_dir: Path, span: TrackSpan, slack_s: float = TIME_SLACK_S) -> list[Path]:
    """The saved crops of one sighting's track, oldest first."""
    folder = track_folder(data_dir, span.camera_id, span.track_id)
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.jpg")):
        at = _captured_at(path)
        if at is not None and span.covers(at, slack_s):
            found.append(path)
    return found


def _unlink(paths: Iterable[Path]) -> tuple[int, list[str]]:
    removed, errors = 0, list[str]()
    for path in paths:
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
        except OSError as exc:
            errors.append(f"cannot delete {path}: {exc}")
    for msg in errors:
        log.warning("%s", msg)
    return removed, errors


def _drop_empty(folder: Path) -> None:
    """Remove a track folder (and its camera folder) once empty; a race with a writer is fine."""
    for path in (folder, folder.parent):
        try:
            path.rmdir()
        except OSError:
            return


def remove_span_crops(
    data_dir: Path, spans: Iterable[TrackSpan], slack_s: float = TIME_SLACK_S
) -> tuple[int, list[str]]:
    """Delete the saved track crops of these sightings; returns (files removed, error messages)."""
    removed, errors = 0, list[str]()
    for span in spans:
        n, errs = _unlink(span_crops(data_dir, span, slack_s))
        removed, errors = removed + n, errors + errs
        _drop_empty(track_folder(data_dir, span.camera_id, span.track_id))
    return removed, errors


def sweep_track_crops(
    data_dir: Path,
    cutoff_at: float,
    kept_spans: Callable[[int], Iterable[TrackSpan]],
    slack_s: float = TIME_SLACK_S,
) -> tuple[int, list[str]]:
    """Delete track crops captured before ``cutoff_at`` that no kept sighting covers.

    ``kept_spans(track_id)``: the spans of the sightings still in the memory with that track id
    (any camera); crops of a kept sighting (e.g. of a confirmed identity) stay.
    """
    base = Path(data_dir) / TRACK_FOLDER
    if not base.is_dir():
        return 0, []
    removed, errors = 0, list[str]()
    for folder in sorted(p for p in base.glob("*/*") if p.is_dir() and p.name.isdigit()):
        times = ((p, _captured_at(p)) for p in folder.glob("*.jpg"))
        old = [(p, at) for p, at in times if at is not None and at < cutoff_at]
        if not old:
            continue
        spans = [s for s in kept_spans(int(folder.name)) if camera_folder(s.camera_id) == folder.parent.name]
        n, errs = _unlink(p for p, at in old if not any(s.covers(at, slack_s) for s in spans))
        removed, errors = removed + n, errors + errs
        _drop_empty(folder)
    return removed, errors


def remove_track_crops(data_dir: Path) -> None:
    """Delete every saved track crop of a data directory (the memory itself is untouched)."""
    shutil.rmtree(Path(data_dir) / TRACK_FOLDER, ignore_errors=True)
