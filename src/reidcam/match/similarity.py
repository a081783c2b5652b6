"""Cosine similarity between L2-normalised embeddings."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def cosine_similarity(a: NDArray[np.floating], b: NDArray[np.floating]) -> NDArray[np.float32]:
    """Pairwise cosine similarity, higher is better.

    Args:
        a: (N, D) or (D,) vectors, assumed L2-normalised.
        b: (M, D) or (D,) vectors, assumed L2-normalised.

    Returns:
        (N, M) float32 similarities in [-1, 1].
    """
    a2 = np.atleast_2d(np.asarray(a, np.float32))
    b2 = np.atleast_2d(np.asarray(b, np.float32))
    if a2.shape[1] != b2.shape[1]:
        raise ValueError(f"embedding dims differ: {a2.shape[1]} vs {b2.shape[1]}")
    return np.asarray(np.clip(a2 @ b2.T, -1.0, 1.0), dtype=np.float32)


def cosine_distance(a: NDArray[np.floating], b: NDArray[np.floating]) -> NDArray[np.float32]:
    """Pairwise cosine distance (1 - similarity), lower is better."""
    return (1.0 - cosine_similarity(a, b)).astype(np.float32)
