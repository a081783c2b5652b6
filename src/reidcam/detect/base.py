"""The Detector protocol: images in, person boxes out."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from reidcam.core.types import Detections

log = logging.getLogger(__name__)


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


def finite_rows(
    xyxy: NDArray[np.float32], confidence: NDArray[np.float32], detector: str
) -> NDArray[np.bool_]:
    """Mask of the rows whose box and score are finite; the others are logged, to be dropped.

    A model output with NaN or inf (an fp16 overflow, a broken export) would make
    ``Detections`` raise and cost the whole frame; dropping the bad rows keeps the frame's
    other people. Adapters call this before building ``Detections``.
    """
    boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
    ok = np.isfinite(boxes).all(axis=1) & np.isfinite(np.asarray(confidence, np.float32).reshape(-1))
    if not ok.all():
        log.warning(
            "%s: dropped %d of %d detections with NaN or infinite coordinates or scores",
            detector,
            int((~ok).sum()),
            len(ok),
        )
    return ok
