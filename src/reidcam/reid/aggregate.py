"""Outlier-robust mean of a sighting's embeddings.

A track collects crops of one person, but a few are bad in ways the quality gate cannot see:
an id switch for a frame or two, a passer-by in front, motion blur. Their vectors point
elsewhere; a plain mean lets them pull the prototype away. ``robust_mean`` drops such vectors
before averaging.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from reidcam.core.types import l2_normalize

_MAD_TO_SIGMA = 1.4826  # MAD * this estimates the standard deviation of normal data


def robust_mean(
    vectors: NDArray[np.floating], n_sigma: float = 3.0, min_gap: float = 0.1
) -> NDArray[np.float32]:
    """Mean direction of N embeddings after dropping outliers.

    Steps: L2-normalise the rows; take the re-normalised element-wise median as a centre (it
    is not moved by a minority of outliers, unlike the mean); compute each vector's cosine
    similarity to it; drop the vectors whose similarity is below
    ``median_sim - max(n_sigma * 1.4826 * MAD, min_gap)``; average the rest and re-normalise.
    ``min_gap`` keeps near-identical sets (MAD about 0) from losing vectors to noise. At least
    the half of the vectors closest to the centre is always kept; with 1 or 2 vectors (no
    majority to define an outlier) it is the plain normalised mean.

    Args:
        vectors: (N, D) float embeddings, N >= 1 (normalised here, so any scale works).
        n_sigma: how many robust standard deviations below the median similarity is an outlier.
        min_gap: the smallest similarity drop that counts as an outlier.

    Returns:
        (D,) float32 unit vector.

    Raises:
        ValueError: no vectors, not 2-D, or NaN/inf values.
    """
    v = np.asarray(vectors, np.float32)
    if v.ndim != 2 or v.shape[0] == 0:
        raise ValueError(f"robust_mean needs an (N, D) array with N >= 1, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("robust_mean got NaN or infinite values")
    v = l2_normalize(v)
    if len(v) <= 2:
        return l2_normalize(v.mean(axis=0))
    sims = v @ l2_normalize(np.median(v, axis=0))
    med = float(np.median(sims))
    mad = float(np.median(np.abs(sims - med)))
    keep = sims >= med - max(n_sigma * _MAD_TO_SIGMA * mad, min_gap)
    return l2_normalize(v[keep].mean(axis=0))
