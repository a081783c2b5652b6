"""The users' confirmations and rejections in the identity memory, read for calibration.

A confirmed (or user-moved) sighting is a labelled example of its identity, a rejected one a
labelled non-example. :func:`load_feedback` reads them (one model's prototypes); the pairs
made of them are :func:`reidcam.eval.feedback_pairs.feedback_pairs`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.engine import Connection, Engine

from reidcam.core.types import l2_normalize
from reidcam.identity.feedback import ACCEPTED, REJECTED
from reidcam.storage import tables as t


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


def _feedback_rows(conn: Connection, feedback: str) -> list[sa.Row[Any, Any, Any, Any, Any]]:
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
