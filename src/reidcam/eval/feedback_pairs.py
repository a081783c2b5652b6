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

import numpy as np
from numpy.typing import NDArray

from reidcam.identity.feedback_set import FeedbackSet
from reidcam.match.calibration import PairScores, pair_similarities


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
