"""Re-ranking of a search by photo: average query expansion and k-reciprocal re-ranking.

Both use the gallery's own structure: a probe's top hits that agree with each other pull their
neighbours up. Pure NumPy on unit vectors, for the small candidate sets of a search (the top few
hundred hits), never the whole memory. Whether either pays is measured in docs/accuracy.md
("Re-ranking"); the search paths use neither unless that measurement says so.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def query_expansion(
    probes: NDArray[np.float32], gallery: NDArray[np.float32], k: int = 3, alpha: float = 3.0
) -> NDArray[np.float32]:
    """alpha-weighted average query expansion (Radenovic et al.): similarities (Q, G) after it.

    Each probe becomes the normalised sum of itself and its ``k`` best gallery vectors, each
    weighted by its similarity to the probe to the power ``alpha`` (negative ones count 0).
    """
    sims = probes @ gallery.T
    if k < 1 or gallery.shape[0] == 0:
        return np.asarray(sims, dtype=np.float32)
    k = min(k, gallery.shape[0])
    top = np.argsort(-sims, axis=1)[:, :k]
    weights = np.clip(np.take_along_axis(sims, top, axis=1), 0.0, None) ** alpha
    expanded = probes + np.einsum("qk,qkd->qd", weights, gallery[top])
    expanded /= np.maximum(np.linalg.norm(expanded, axis=1, keepdims=True), 1e-12)
    return np.asarray(expanded @ gallery.T, dtype=np.float32)


def _k_reciprocal(ranks: NDArray[np.int64], i: int, k: int) -> NDArray[np.int64]:
    forward = ranks[i, : k + 1]
    backward = ranks[forward, : k + 1]
    return forward[np.any(backward == i, axis=1)]


def _expanded_set(ranks: NDArray[np.int64], i: int, k: int) -> NDArray[np.int64]:
    """k-reciprocal neighbours of i, grown by those of its members that overlap it by 2/3."""
    base = _k_reciprocal(ranks, i, k)
    grown = base
    half = max(1, round(k / 2))
    for j in base:
        cand = _k_reciprocal(ranks, int(j), half)
        if len(np.intersect1d(cand, base)) > 2 / 3 * len(cand):
            grown = np.append(grown, cand)
    return np.unique(grown)


def k_reciprocal_rerank(
    probes: NDArray[np.float32], gallery: NDArray[np.float32], k1: int = 20, k2: int = 6, lam: float = 0.3
) -> NDArray[np.float32]:
    """k-reciprocal re-ranking (Zhong et al., CVPR 2017): distances (Q, G), lower is better.

    The final distance is ``lam * original + (1 - lam) * Jaccard`` of the probes' and gallery
    items' k-reciprocal neighbourhoods over probes + gallery (original: cosine distance / 2).
    """
    allv = np.concatenate([probes, gallery]).astype(np.float32)
    n, q = len(allv), len(probes)
    dist = np.clip(1.0 - allv @ allv.T, 0.0, 2.0) / 2.0
    ranks = np.argsort(dist, axis=1)
    k1 = min(k1, n - 1)
    v = np.zeros((n, n), np.float32)
    for i in range(n):
        members = _expanded_set(ranks, i, k1)
        w = np.exp(-dist[i, members])
        v[i, members] = w / w.sum()
    if k2 > 1:
        v = np.stack([v[ranks[i, : min(k2, n)]].mean(axis=0) for i in range(n)])
    inter = np.minimum(v[:q, None, :], v[None, q:, :]).sum(axis=2)
    union = np.maximum(v[:q, None, :], v[None, q:, :]).sum(axis=2)
    jaccard = 1.0 - inter / np.maximum(union, 1e-12)
    return np.asarray(lam * dist[:q, q:] + (1.0 - lam) * jaccard, dtype=np.float32)
