"""The synthetic two-camera scene as finite, deterministic cameras, and what a memory holds of it.

Frames carry ``captured_at = T0 + index / FPS`` instead of the wall clock, so a sighting's
first/last seen times depend on the input alone: the single process and the workers can be
compared field by field.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import sqlalchemy as sa

from reidcam.config import CameraConfig, TrackerConfig
from reidcam.core.types import Frame
from reidcam.pipeline.camera import CameraUnit
from reidcam.pipeline.sightings import SightingBook
from reidcam.storage import tables as t
from reidcam.testing.fakes import FakeSource
from reidcam.testing.scene import render, two_camera_scene
from reidcam.track import build_tracker

FPS = 15.0
T0 = 1_700_000_000.0
N_FRAMES = 50
CAMERAS = ("cam0", "cam1")

Row = tuple[str, int, int, float, float]  # camera, track, part, first seen, last seen


class SceneSource(FakeSource):
    """A finite scene camera whose frame times follow the frame index, not the clock."""

    def read(self) -> Frame | None:
        frame = super().read()
        return None if frame is None else replace(frame, captured_at=T0 + frame.index / FPS)


def scene_unit(camera_id: str, scene_camera: str | None = None) -> CameraUnit:
    """``camera_id`` replaying ``scene_camera`` of the scene (default: the same id), not looping."""
    frames = render(two_camera_scene(), scene_camera or camera_id, N_FRAMES)
    tracker = build_tracker(TrackerConfig(frame_rate=10, track_buffer=10))
    return CameraUnit(
        camera_id, SceneSource(camera_id, frames), tracker, SightingBook(camera_id, max_missing_frames=10)
    )


def build_scene_camera(cam: CameraConfig) -> CameraUnit:
    """A worker's camera factory: registry source ``scene-cam0`` replays the scene's cam0."""
    return scene_unit(cam.id, str(cam.source).removeprefix("scene-"))


def stored_sightings(engine: sa.Engine) -> dict[Row, str]:
    """Every stored sighting (camera, track, part, first, last seen) -> its identity id."""
    cols = t.sightings.c
    query = sa.select(cols.camera_id, cols.track_id, cols.part, cols.first_seen_at, cols.last_seen_at,
                      cols.identity_id)  # fmt: skip
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    out: dict[Row, str] = {}
    for cam, track, part, first, last, identity in rows:
        key = (cam, int(track), int(part), round(float(first), 6), round(float(last), 6))
        assert key not in out, f"sighting {key} stored twice"
        out[key] = identity
    return out


def partition(assigned: dict[Row, str]) -> set[frozenset[Row]]:
    """Which sightings share an identity (the identity ids themselves are random)."""
    groups: dict[str, set[Row]] = {}
    for row, identity in assigned.items():
        groups.setdefault(identity, set()).add(row)
    return {frozenset(g) for g in groups.values()}


def decision_key(camera_id: str | None, verdict: object, label: str | None, similarity: float) -> tuple:
    """A match decision without the gallery's own id for the person (``shared:`` on a worker)."""
    return (camera_id, getattr(verdict, "value", str(verdict)), label, float(np.round(similarity, 5)))
