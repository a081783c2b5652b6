"""The Detector protocol: images in, person boxes out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from reidcam.core.types import Detections


@runtime_checkable
class Detector(Protocol):
    """Finds people. One instance serves all cameras, so ``detect`` takes a batch."""

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        """Detect persons in BGR uint8 images; one Detections per image, same order."""
        ...
