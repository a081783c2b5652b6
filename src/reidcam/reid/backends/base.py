"""The Embedder protocol shared by every ReID runtime."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from reidcam.core.types import Embeddings


@runtime_checkable
class Embedder(Protocol):
    """Turns person crops into L2-normalised vectors.

    ``model_id`` names the weights (never compare vectors of different ids);
    ``dim`` is the vector length.
    """

    model_id: str
    dim: int

    def embed(self, crops: Sequence[NDArray[np.uint8]]) -> Embeddings:
        """Embed BGR uint8 crops of any size in one batch; empty input gives (0, dim)."""
        ...
