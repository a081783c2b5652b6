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


@runtime_checkable
class SizedDetector(Detector, Protocol):
    """A detector whose input size can be chosen per image (per camera).

    A wide view with small people needs a large input, a close-up door camera a small one;
    one size for all cameras wastes time on one and misses people on the other.
    """

    def detect_sized(
        self, images: Sequence[NDArray[np.uint8]], sizes: Sequence[int | None]
    ) -> list[Detections]:
        """Like ``detect``; ``sizes[i]`` is image i's input long side in px (None = default)."""
        ...
