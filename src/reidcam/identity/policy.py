"""Pure decisions of the identity memory: join or found, and which embeddings to keep."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from reidcam.identity.models import IdentitySettings

VERDICT_MATCH = "match"
VERDICT_UNCERTAIN = "uncertain"
VERDICT_NEW = "new"
VERDICT_MANUAL = "manual"


@dataclass(frozen=True)
class Choice:
    """``identity_id`` None means: found a new identity. ``enrich``: learn from this sighting."""

    identity_id: str | None
    verdict: str
    similarity: float | None
    runner_up_id: str | None
    runner_up_similarity: float | None
    reason: str
    enrich: bool


def choose(scores: list[tuple[str, float]], s: IdentitySettings) -> Choice:
    """Pick the identity for a sighting from its similarities to the candidates (best first).

    Above the threshold the best identity is joined. When the runner-up is within ``margin``
    the sighting still joins (founding a third identity would split the person further) but is
    flagged 'uncertain' and does not enrich the identity, so a doubtful view never spreads.
    """
    if not scores or scores[0][1] < s.threshold:
        near = scores[0] if scores else (None, None)
        why = "no known identity" if not scores else f"best {near[1]:.3f} < threshold {s.threshold:.3f}"
        return Choice(None, VERDICT_NEW, None, near[0], near[1], f"new identity: {why}", True)
    best_id, best = scores[0]
    runner_id, runner = scores[1] if len(scores) > 1 else (None, None)
    if runner is not None and best - runner < s.margin:
        reason = (
            f"similarity {best:.3f} >= threshold {s.threshold:.3f}, but only {best - runner:.3f} "
            f"ahead of the runner-up (margin {s.margin:.3f}): joined, not learnt from"
        )
        return Choice(best_id, VERDICT_UNCERTAIN, best, runner_id, runner, reason, False)
    reason = f"similarity {best:.3f} >= threshold {s.threshold:.3f}"
    return Choice(best_id, VERDICT_MATCH, best, runner_id, runner, reason, True)


def is_redundant(vector: NDArray[np.float32], existing: NDArray[np.float32], limit: float) -> bool:
    """True when ``vector`` is at least ``limit`` similar to one of ``existing`` (K, D)."""
    return len(existing) > 0 and float(np.max(existing @ vector)) >= limit


def evictions(vectors: NDArray[np.float32], pinned: NDArray[np.bool_], max_n: int) -> list[int]:
    """Row indexes to drop so that at most ``max_n`` remain, never a pinned one.

    Greedy diversity: repeatedly drop the unpinned vector most similar to another kept one,
    so the identity keeps views that differ (front, back, another camera) over near-copies.
    """
    v = np.asarray(vectors, np.float32)
    keep = list(range(len(v)))
    dropped: list[int] = []
    while len(keep) > max_n:
        free = [i for i in keep if not pinned[i]]
        if not free:
            break
        sims = v[free] @ v[keep].T
        for row, i in enumerate(free):
            sims[row, keep.index(i)] = -2.0
        victim = free[int(np.argmax(sims.max(axis=1)))]
        keep.remove(victim)
        dropped.append(victim)
    return dropped
