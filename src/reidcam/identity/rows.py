"""A stored sighting as the code that places it into an identity reads it (records, join, feedback)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class SightingRow:
    """The parts of a stored sighting that placing it needs."""

    id: str
    camera_id: str
    track_id: int
    first_seen_at: float
    last_seen_at: float
    model_id: str
    prototype: NDArray[np.float32]
    crop_path: str | None
