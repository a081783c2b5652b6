"""Helpers of the storage tests: synthetic people as unit vectors, sightings, a PostgreSQL admin engine."""

from __future__ import annotations

from typing import Any

import numpy as np
import sqlalchemy as sa

from reidcam.core.types import BestCrop, Sighting, SightingKey, l2_normalize
from reidcam.identity import IdentitySettings

DIM = 32
MODEL = "test-model-v1"
SETTINGS = IdentitySettings(threshold=0.7, margin=0.05, max_embeddings_per_identity=4)


def pg_admin(srv: Any, database: str | None = None) -> sa.Engine:
    url = srv.get_uri(database=database).replace("postgresql://", "postgresql+psycopg://", 1)
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)


# -- synthetic people -----------------------------------------------------------
def person(seed: int) -> np.ndarray:
    """A person's 'true' appearance: a random unit vector (random vectors are ~orthogonal)."""
    return l2_normalize(np.random.default_rng(seed).normal(size=DIM))


def view(base: np.ndarray, seed: int, noise: float = 0.15) -> np.ndarray:
    """One sighting of the person: the appearance plus a little noise (similarity ~0.9)."""
    jitter = np.random.default_rng(10_000 + seed).normal(size=DIM) / np.sqrt(DIM)
    return l2_normalize(base + noise * jitter)


def mix(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    return l2_normalize((1 - w) * a + w * b)


def crop_image(colour: tuple[int, int, int] = (30, 30, 220)) -> np.ndarray:
    return np.full((96, 40, 3), colour, np.uint8)


def sighting(
    camera: str,
    track: int,
    vector: np.ndarray,
    t0: float,
    t1: float | None = None,
    with_crop: bool = True,
    model_id: str = MODEL,
) -> Sighting:
    t1 = t0 + 2.0 if t1 is None else t1
    crop = (
        BestCrop(crop_image(), np.array([10, 20, 50, 116], np.float32), 1.0, 3, t0, "f.jpg")
        if with_crop
        else None
    )
    return Sighting(
        key=SightingKey(camera, track, 0),
        first_seen_at=t0,
        last_seen_at=t1,
        n_embeddings=3,
        prototype=np.asarray(vector, np.float32),
        model_id=model_id,
        best_crop=crop,
    )
