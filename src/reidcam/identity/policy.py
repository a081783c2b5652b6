"""Pure decisions of the identity memory: join or found, and which embeddings to keep.

The join rule is a quorum, not a nearest neighbour: a sighting joins an identity only if it is
similar to more than ``quorum`` of the identity's kept embeddings. With the nearest-member rule
A~B and B~C put A, B and C in one identity even when A and C are different people (a chain);
with a majority quorum C must also look like A.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
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
    n_members: int | None = None
    n_agree: int | None = None


@dataclass(frozen=True)
class Support:
    """How a sighting agrees with one identity.

    ``similarity``: the quorum similarity, the k-th highest similarity to the identity's
    members with k = floor(quorum * n) + 1 (quorum 0.5: a strict majority; quorum 0: the
    nearest member, the old rule), or the similarity to a view a user vouched for (enrolled or
    confirmed) when that is higher (``via_user``): a user's word is not a chain link the
    memory made itself. ``n_agree``: members at or above the join threshold.
    """

    identity_id: str
    similarity: float
    n_members: int
    n_agree: int
    via_user: bool = False


def quorum_size(n_members: int, quorum: float) -> int:
    """How many members must agree: more than ``quorum`` of them, at least one."""
    return max(1, min(n_members, math.floor(quorum * n_members + 1e-9) + 1))


def support(
    identity_id: str, sims: NDArray[np.float32], s: IdentitySettings, pinned: NDArray[np.bool_] | None = None
) -> Support:
    """The sighting's support for an identity whose members score ``sims`` (n,); ``pinned``: a user's."""
    arr = np.asarray(sims, np.float32).reshape(-1)
    if arr.size == 0:
        raise ValueError(f"identity {identity_id} has no member to compare with")
    ranked = np.sort(arr)[::-1]
    quorum_sim = float(ranked[quorum_size(arr.size, s.quorum) - 1])
    user_sim = float(arr[pinned].max()) if pinned is not None and pinned.any() else -2.0
    n_agree = int(np.sum(arr >= s.threshold))
    if user_sim > quorum_sim:
        return Support(identity_id, user_sim, int(arr.size), n_agree, via_user=True)
    return Support(identity_id, quorum_sim, int(arr.size), n_agree)


def rank_supports(supports: list[Support]) -> list[Support]:
    return sorted(supports, key=lambda x: (-x.similarity, -x.n_agree, x.identity_id))


def _members_text(sup: Support | None, s: IdentitySettings) -> str:
    if sup is None:
        return ""
    need = quorum_size(sup.n_members, s.quorum)
    via = ", through a view a user confirmed" if sup.via_user else ""
    return f" ({sup.n_agree} of its {sup.n_members} members agree, {need} needed{via})"


def choose(
    scores: list[tuple[str, float]], s: IdentitySettings, members: Mapping[str, Support] | None = None
) -> Choice:
    """Pick the identity for a sighting from its similarities to the candidates (best first).

    ``members``: the quorum support behind each score, for the explanation and the record.

    Above the threshold the best identity is joined. When the runner-up is within ``margin``
    the sighting still joins (founding a third identity would split the person further) but is
    flagged 'uncertain' and does not enrich the identity, so a doubtful view never spreads.
    """
    members = members or {}
    if not scores or scores[0][1] < s.threshold:
        near = scores[0] if scores else (None, None)
        sup = members.get(near[0]) if near[0] is not None else None
        why = (
            "no known identity"
            if not scores
            else f"best {near[1]:.3f} < threshold {s.threshold:.3f}{_members_text(sup, s)}"
        )
        return Choice(None, VERDICT_NEW, None, near[0], near[1], f"new identity: {why}", True)
    best_id, best = scores[0]
    sup = members.get(best_id)
    counts = (sup.n_members, sup.n_agree) if sup is not None else (None, None)
    runner_id, runner = scores[1] if len(scores) > 1 else (None, None)
    agreed = f"similarity {best:.3f} >= threshold {s.threshold:.3f}{_members_text(sup, s)}"
    if runner is not None and best - runner < s.margin:
        reason = (
            f"{agreed}, but only {best - runner:.3f} "
            f"ahead of the runner-up (margin {s.margin:.3f}): joined, not learnt from"
        )
        return Choice(best_id, VERDICT_UNCERTAIN, best, runner_id, runner, reason, False, *counts)
    return Choice(best_id, VERDICT_MATCH, best, runner_id, runner, agreed, True, *counts)


def is_redundant(vector: NDArray[np.float32], existing: NDArray[np.float32], limit: float) -> bool:
    """True when ``vector`` is at least ``limit`` similar to one of ``existing`` (K, D)."""
    return len(existing) > 0 and float(np.max(existing @ vector)) >= limit


def is_redundant_sims(sims: NDArray[np.float32], limit: float) -> bool:
    """``is_redundant`` from the similarities to the existing vectors, already computed."""
    return len(sims) > 0 and float(np.max(sims)) >= limit


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
