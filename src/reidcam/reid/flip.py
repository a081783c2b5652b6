"""Horizontal-flip test-time augmentation for any embedder.

A person seen from the left and from the right is one person; averaging the vectors of a crop
and its mirror image removes some of the pose and side-of-the-body noise from each vector.
It costs one more crop per crop in the same batch (half the crops/s); whether it pays is
measured in docs/accuracy.md ("Flip test-time augmentation").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from reidcam.core.types import Embeddings, l2_normalize
from reidcam.reid.backends.base import Embedder


class FlipEmbedder:
    """Embeds each crop and its mirror image in one batch; returns their normalised mean.

    The vectors keep the wrapped model's ``model_id``: they live in the same space (the mean
    of two unit vectors of one model), and a query embedded without flip still compares.
    """

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim

    def embed(self, crops: Sequence[NDArray[np.uint8]]) -> Embeddings:
        """(N, dim) unit vectors, each the normalised mean of a crop's and its mirror's vector."""
        n = len(crops)
        if n == 0:
            return self.inner.embed(crops)
        mirrored = [np.ascontiguousarray(c[:, ::-1]) if isinstance(c, np.ndarray) else c for c in crops]
        both = self.inner.embed([*crops, *mirrored]).vectors
        return Embeddings(l2_normalize(both[:n] + both[n:]), self.model_id)

    def __getattr__(self, name: str) -> object:
        """Everything else (``preset``, ``batch_size``, ...) is the wrapped embedder's."""
        return getattr(self.inner, name)
