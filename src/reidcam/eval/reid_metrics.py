"""CMC and mAP for person re-identification, the Market-1501 protocol, vectorised in NumPy.

Protocol (as torchreid's ``eval_market1501`` and the official Market-1501 code):

- each query row of the distance matrix is ranked by ascending distance;
- gallery entries of the query's own pid taken by the query's own camera are removed from
  that ranking (finding yourself on the same camera is not re-identification);
- gallery entries with a junk pid (-1, Market's "bad detection" label) are removed as well,
  when ``ignore_junk`` (the Market loaders of torchreid drop them before evaluating, which
  gives the same numbers); pid 0 (Market's distractors) stays in the gallery as a
  non-matching entry;
- a query with no valid gallery match left is skipped and counted in ``num_skipped``, as
  torchreid does; when no query is valid at all, ``ValueError`` (torchreid asserts);
- CMC@k is the fraction of valid queries whose first true match is within the first k;
  AP is the mean of the precision at each true match's rank; mAP their mean.

Ties: distances are sorted with ``np.argsort(distmat, axis=1)``, exactly the call torchreid
makes, so tied gallery entries are ordered the same way and the scores agree on ties too.
The order within a tie is the sort's, not a property of the data: a tie between a true and
a false match can count either way, as it does in every public implementation.

Where torchreid fails: when a query keeps fewer than ``max_rank`` gallery entries after the
same-camera removal, torchreid builds a ragged array and raises; here that query's CMC stays
at its last value (1, since it is valid) up to ``max_rank``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

JUNK_PID = -1
DISTRACTOR_PID = 0
_CHUNK_ROWS = 256  # queries per vectorised block: bounds memory to a few (256 x n_gallery) arrays


@dataclass(frozen=True)
class RankResult:
    """Scores of one evaluation.

    Attributes:
        cmc: (max_rank,) float64, cmc[k-1] is rank-k accuracy in [0, 1].
        mAP: mean average precision in [0, 1].
        num_valid: queries that had at least one valid gallery match.
        num_skipped: queries skipped because they had none.
        ap: (num_valid,) float64 average precision of each valid query, in query order.
    """

    cmc: NDArray[np.float64]
    mAP: float
    num_valid: int
    num_skipped: int
    ap: NDArray[np.float64]

    def rank(self, k: int) -> float:
        """Rank-k accuracy (k >= 1); past the computed length the last value holds."""
        if k < 1:
            raise ValueError("rank k starts at 1")
        return float(self.cmc[min(k, len(self.cmc)) - 1])

    def summary(self, ranks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float | int]:
        out: dict[str, float | int] = {f"rank{k}": self.rank(k) for k in ranks}
        out.update(mAP=self.mAP, num_valid=self.num_valid, num_skipped=self.num_skipped)
        return out


def _as_1d(values: ArrayLike, n: int, name: str) -> NDArray[np.int64]:
    arr = np.asarray(values).reshape(-1)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have {n} entries, got {arr.shape[0]}")
    return arr.astype(np.int64)


def _check(
    distmat: ArrayLike, q_pids: ArrayLike, g_pids: ArrayLike, q_camids: ArrayLike, g_camids: ArrayLike
) -> tuple[NDArray[Any], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """(distances as given, any real dtype; q_pids, g_pids, q_camids, g_camids as int64), validated."""
    dist = np.asarray(distmat)
    if dist.ndim != 2:
        raise ValueError(f"distmat must be (num_query, num_gallery), got shape {dist.shape}")
    if not np.all(np.isfinite(dist)):
        raise ValueError("distmat contains NaN or infinite values")
    nq, ng = dist.shape
    return (
        dist,
        _as_1d(q_pids, nq, "q_pids"),
        _as_1d(g_pids, ng, "g_pids"),
        _as_1d(q_camids, nq, "q_camids"),
        _as_1d(g_camids, ng, "g_camids"),
    )


def _block_scores(
    order: NDArray[np.intp],
    q_pids: NDArray[np.int64],
    q_camids: NDArray[np.int64],
    g_pids: NDArray[np.int64],
    g_camids: NDArray[np.int64],
    ignore_junk: bool,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """First-match rank (inf when none) and AP (nan when none) of a block of queries."""
    gp, gc = g_pids[order], g_camids[order]
    same_pid = gp == q_pids[:, None]
    keep = ~(same_pid & (gc == q_camids[:, None]))
    if ignore_junk:
        keep &= gp != JUNK_PID
    hit = same_pid & keep
    position = np.cumsum(keep, axis=1)  # 1-based rank of each kept entry among the kept ones
    hits_so_far = np.cumsum(hit, axis=1)
    num_rel = hit.sum(axis=1)
    first = np.where(hit, position, np.iinfo(np.int64).max).min(axis=1).astype(np.float64)
    first[num_rel == 0] = np.inf
    precision_sum = np.where(hit, hits_so_far / np.maximum(position, 1), 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = np.where(num_rel > 0, precision_sum / num_rel, np.nan)
    return first, ap


def evaluate_rank(
    distmat: ArrayLike,
    q_pids: ArrayLike,
    g_pids: ArrayLike,
    q_camids: ArrayLike,
    g_camids: ArrayLike,
    max_rank: int = 50,
    ignore_junk: bool = True,
) -> RankResult:
    """CMC and mAP under the Market-1501 protocol (see the module docstring).

    Args:
        distmat: (num_query, num_gallery) distances, lower is more similar.
        q_pids, g_pids: person ids of queries and gallery entries (-1 junk, 0 distractor).
        q_camids, g_camids: camera ids.
        max_rank: CMC length; clamped to num_gallery as torchreid does.
        ignore_junk: drop gallery entries with pid -1 from every ranking.

    Returns:
        RankResult with ``cmc`` of length ``min(max_rank, num_gallery)``.

    Raises:
        ValueError: shapes disagree, non-finite distances, or no query has a valid match.
    """
    dist, qp, gp, qc, gc = _check(distmat, q_pids, g_pids, q_camids, g_camids)
    nq, ng = dist.shape
    max_rank = min(int(max_rank), ng)
    if nq == 0 or ng == 0 or max_rank < 1:
        raise ValueError(f"nothing to evaluate: {nq} queries, {ng} gallery entries")
    firsts, aps = [], []
    for start in range(0, nq, _CHUNK_ROWS):
        sl = slice(start, min(start + _CHUNK_ROWS, nq))
        order = np.argsort(dist[sl], axis=1)
        first, ap = _block_scores(order, qp[sl], qc[sl], gp, gc, ignore_junk)
        firsts.append(first)
        aps.append(ap)
    first = np.concatenate(firsts)
    valid = np.isfinite(first)
    num_valid = int(valid.sum())
    if num_valid == 0:
        raise ValueError(
            "no query has a valid gallery match (a gallery image of its pid from another camera)"
        )
    ranks = np.arange(1, max_rank + 1)
    cmc = (first[valid, None] <= ranks[None, :]).mean(axis=0)
    ap_valid = np.concatenate(aps)[valid]
    return RankResult(cmc.astype(np.float64), float(ap_valid.mean()), num_valid, nq - num_valid, ap_valid)
