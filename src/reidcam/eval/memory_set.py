"""The deployment's own tracks as a training set: no labels, only what the pipeline saw.

- A *clean track* is one sighting of the identity memory whose track was never split (the
  pipeline splits a track whose appearance jumps: a likely swap of two people), that lasted at
  least ``min_duration_s`` and has at least ``min_crops`` crops on disk (its best crop plus the
  samples ``TrackCropSink`` kept). Each clean track is one pseudo-identity.
- Two tracks seen on one camera at the same time are two different people: those pairs are the
  only negatives training uses. Two tracks that never met may be the same person coming back,
  so they are never pushed apart.
- No identity assignment of the memory is used: chain-merged identities would teach the model
  their mistakes.

The memory is read with plain SQLAlchemy on the ``sightings`` table (read-only).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from reidcam.eval.dataset import DatasetError, Item
from reidcam.identity.track_crops import TIME_SLACK_S, TRACK_FOLDER, TrackSpan, span_crops
from reidcam.storage import tables as t
from reidcam.storage.db import DB_FILENAME, default_url, make_engine, read_tx

log = logging.getLogger(__name__)

SPLIT_GAP_S = 60.0  # parts of one split track follow each other closely; a reused id comes later


@dataclass(frozen=True)
class TrackRow:
    """One sighting as stored: where, which track, when, and its best crop (relative path)."""

    sighting_id: str
    camera_id: str
    track_id: int
    part: int
    first_seen_at: float
    last_seen_at: float
    crop_path: str | None

    @property
    def duration_s(self) -> float:
        return self.last_seen_at - self.first_seen_at


@dataclass(frozen=True)
class MemorySetSettings:
    """What makes a track clean enough to stand for one person."""

    min_crops: int = 4
    min_duration_s: float = 1.0
    max_crops_per_track: int = 16
    time_slack_s: float = TIME_SLACK_S


@dataclass(frozen=True)
class MemorySet:
    """Pseudo-identities 1..N (``tracks[pid - 1]``), their crops, and the pairs known different.

    ``items[i].camid`` is the camera's number (1-based, in ``cameras`` order).
    ``negatives`` holds each co-occurring pair once as ``(smaller pid, larger pid)``.
    ``skipped`` counts the sightings left out, by reason.
    """

    data_dir: Path
    items: tuple[Item, ...]
    tracks: tuple[TrackRow, ...]
    cameras: tuple[str, ...]
    negatives: frozenset[tuple[int, int]]
    skipped: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, object]:
        return {
            "data": str(self.data_dir),
            "tracks": len(self.tracks),
            "crops": len(self.items),
            "cameras": list(self.cameras),
            "negative_pairs": len(self.negatives),
            "skipped": dict(self.skipped),
        }


def read_tracks(data_dir: Path, url: str | None = None) -> list[TrackRow]:
    """Every sighting of the memory in ``data_dir`` (SQLite there unless ``url``), oldest first.

    Raises:
        DatasetError: no identity memory there.
    """
    if url is None and not (Path(data_dir) / DB_FILENAME).is_file():
        raise DatasetError(f"no identity memory in {data_dir} (no {DB_FILENAME}: run `reidcam serve` first)")
    engine = make_engine(url or default_url(Path(data_dir)))
    s = t.sightings.c
    cols = (s.id, s.camera_id, s.track_id, s.part, s.first_seen_at, s.last_seen_at, s.crop_path)
    try:
        with read_tx(engine) as conn:
            rows = conn.execute(sa.select(*cols).order_by(s.first_seen_at, s.id)).all()
    except sa.exc.SQLAlchemyError as exc:
        raise DatasetError(f"cannot read the sightings of {data_dir}: {exc}") from exc
    finally:
        engine.dispose()
    return [TrackRow(r[0], r[1], int(r[2]), int(r[3]), float(r[4]), float(r[5]), r[6]) for r in rows]


def split_tracks(tracks: Sequence[TrackRow]) -> set[str]:
    """Sighting ids of tracks the pipeline split into parts (another part of the same camera and
    track id within ``SPLIT_GAP_S``)."""
    by_track: dict[tuple[str, int], list[TrackRow]] = defaultdict(list)
    for row in tracks:
        by_track[(row.camera_id, row.track_id)].append(row)
    split: set[str] = set()
    for rows in by_track.values():
        for a in rows:
            for b in rows:
                gap = max(a.first_seen_at, b.first_seen_at) - min(a.last_seen_at, b.last_seen_at)
                if a is not b and a.part != b.part and gap <= SPLIT_GAP_S:
                    split.update((a.sighting_id, b.sighting_id))
    return split


def track_crops(data_dir: Path, row: TrackRow, slack_s: float) -> list[Path]:
    """The crop files of one sighting: its best crop and the sampled ones within its time span."""
    files: list[Path] = []
    if row.crop_path and (Path(data_dir) / row.crop_path).is_file():
        files.append(Path(data_dir) / row.crop_path)
    span = TrackSpan(row.camera_id, row.track_id, row.first_seen_at, row.last_seen_at)
    return files + span_crops(data_dir, span, slack_s)


def cooccurring(tracks: Sequence[TrackRow]) -> list[tuple[int, int]]:
    """Index pairs (i < j) of tracks seen on one camera at overlapping times."""
    by_cam: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(tracks):
        by_cam[row.camera_id].append(i)
    pairs = []
    for idx in by_cam.values():
        idx.sort(key=lambda i: tracks[i].first_seen_at)
        for n, i in enumerate(idx):
            for j in idx[n + 1 :]:
                if tracks[j].first_seen_at > tracks[i].last_seen_at:
                    break
                pairs.append((min(i, j), max(i, j)))
    return pairs


def _evenly(paths: list[Path], n: int) -> list[Path]:
    if len(paths) <= n:
        return paths
    step = len(paths) / n
    return [paths[int(k * step)] for k in range(n)]


def _clean(
    data_dir: Path, tracks: Iterable[TrackRow], settings: MemorySetSettings, skipped: dict[str, int]
) -> list[tuple[TrackRow, list[Path]]]:
    rows = list(tracks)
    split = split_tracks(rows)
    kept = []
    for row in rows:
        if row.sighting_id in split:
            skipped["split track"] += 1
            continue
        if row.duration_s < settings.min_duration_s:
            skipped["too short"] += 1
            continue
        crops = track_crops(data_dir, row, settings.time_slack_s)
        if len(crops) < settings.min_crops:
            skipped["too few crops on disk"] += 1
            continue
        kept.append((row, _evenly(crops, settings.max_crops_per_track)))
    return kept


def build_memory_set(
    data_dir: Path, settings: MemorySetSettings | None = None, url: str | None = None
) -> MemorySet:
    """Clean tracks of the memory in ``data_dir`` as pseudo-identities, with co-occurrence negatives.

    Raises:
        DatasetError: no memory, or fewer than two clean tracks seen together (nothing to learn).
    """
    settings = settings or MemorySetSettings()
    skipped: dict[str, int] = defaultdict(int)
    kept = _clean(Path(data_dir), read_tracks(data_dir, url), settings, skipped)
    tracks = tuple(row for row, _ in kept)
    cameras = tuple(sorted({row.camera_id for row in tracks}))
    cam_no = {cam: n + 1 for n, cam in enumerate(cameras)}
    items = tuple(
        Item(path, pid, cam_no[row.camera_id]) for pid, (row, paths) in enumerate(kept, 1) for path in paths
    )
    negatives = frozenset((i + 1, j + 1) for i, j in cooccurring(tracks))
    if not negatives:
        hint = ""
        if skipped["too few crops on disk"]:
            hint = (
                f"; the memory keeps one crop per sighting: collect several per track under "
                f"{TRACK_FOLDER}/ (`identity.collect_track_crops: true` for reidcam serve, or "
                f"benchmarks/collect_memory.py)"
            )
        raise DatasetError(
            f"{data_dir}: {len(tracks)} clean tracks, none seen together on one camera "
            f"(skipped: {dict(skipped) or 'none'}); training needs people known to be different{hint}"
        )
    out = MemorySet(Path(data_dir), items, tracks, cameras, negatives, dict(skipped))
    log.info("memory set: %s", out.summary())
    return out
