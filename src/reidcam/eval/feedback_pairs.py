"""Calibration pairs from the identity memory: what users confirmed and rejected on their cameras.

A threshold calibrated on a public dataset describes that dataset's cameras. The people who
run reidcam tell it, sighting by sighting, who is who: a confirmed (or user-moved) sighting is
a labelled example of its identity, a rejected one is a labelled non-example. Those labels
make pairs of *sighting prototypes*, the very vectors the pipeline compares, on the users' own
cameras, lighting and crowd:

- same person: two confirmed sightings of one identity (across cameras by default, since two
  sightings of one camera minutes apart are easy),
- different people: confirmed sightings of two identities, and every rejected sighting
  against each confirmed sighting of the identity it was rejected from.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.engine import Connection, Engine

from reidcam.core.types import l2_normalize
from reidcam.eval.calibrate import PairScores, pair_similarities
from reidcam.storage import tables as t

ACCEPTED, REJECTED = "accepted", "rejected"


@dataclass(frozen=True)
class FeedbackSet:
    """Confirmed sightings (prototype, identity, camera) and rejected (prototype, identity) of one model."""

    model_id: str
    sighting_ids: list[str]
    vectors: NDArray[np.float32]  # (N, D) L2-normalised prototypes of confirmed sightings
    identities: list[str]
    cameras: list[str]
    rejected: list[tuple[str, str, NDArray[np.float32]]]  # (sighting id, identity id, prototype)

    @property
    def num_identities(self) -> int:
        return len(set(self.identities))


def _feedback_rows(conn: Connection, feedback: str) -> list[sa.Row[tuple[object, ...]]]:
    s, d = t.sightings, t.match_decisions
    query = (
        sa.select(s.c.id, d.c.identity_id, s.c.camera_id, s.c.model_id, s.c.prototype)
        .join(d, d.c.sighting_id == s.c.id)
        .where(d.c.feedback == feedback)
        .order_by(s.c.id, d.c.identity_id)
        .distinct()
    )
    if feedback == ACCEPTED:  # still in the identity the user confirmed it in
        query = query.where(s.c.identity_id == d.c.identity_id)
    return list(conn.execute(query).all())


def load_feedback(engine: Engine, model_id: str | None = None) -> FeedbackSet:
    """The labelled sightings of ``model_id`` (default: the model with the most confirmations).

    Raises:
        ValueError: nothing was confirmed yet (for that model).
    """
    with engine.connect() as conn:
        accepted, rejected = _feedback_rows(conn, ACCEPTED), _feedback_rows(conn, REJECTED)
    if model_id is None:
        counts = Counter(str(r.model_id) for r in accepted)
        if not counts:
            raise ValueError("no confirmed sightings in the identity memory: confirm some matches first")
        model_id = counts.most_common(1)[0][0]
    accepted = [r for r in accepted if r.model_id == model_id]
    if not accepted:
        raise ValueError(f"no confirmed sightings of model {model_id!r} in the identity memory")
    return FeedbackSet(
        model_id=model_id,
        sighting_ids=[str(r.id) for r in accepted],
        vectors=l2_normalize(np.stack([np.asarray(r.prototype, np.float32) for r in accepted])),
        identities=[str(r.identity_id) for r in accepted],
        cameras=[str(r.camera_id) for r in accepted],
        rejected=[
            (str(r.id), str(r.identity_id), l2_normalize(np.asarray(r.prototype, np.float32)))
            for r in rejected
            if r.model_id == model_id
        ],
    )


def _codes(values: list[str]) -> NDArray[np.int64]:
    index = {v: i + 1 for i, v in enumerate(sorted(set(values)))}  # pids > 0: all are labelled
    return np.array([index[v] for v in values], np.int64)


def feedback_pairs(fs: FeedbackSet, cross_camera_only: bool = True) -> PairScores:
    """Same-person and different-people similarities from the users' feedback.

    Raises:
        ValueError: no same-person or no different-people pair.
    """
    pids, cams = _codes(fs.identities), _codes(fs.cameras)
    extra = []
    members = np.array(fs.identities)
    ids = np.array(fs.sighting_ids)
    for sighting_id, identity_id, vector in fs.rejected:
        mask = (members == identity_id) & (ids != sighting_id)
        if mask.any():
            extra.append((fs.vectors[mask] @ vector).astype(np.float32))
    rejected = np.concatenate(extra) if extra else np.zeros(0, np.float32)
    return pair_similarities(fs.vectors, pids, cams, cross_camera_only, extra_different=rejected)
