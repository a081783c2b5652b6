"""Fast stand-ins for the models and cameras, for tests and demos without weights.

The synthetic world: a grey background with people drawn as solid coloured
rectangles. ``FakeDetector`` finds the rectangles, ``FakeEmbedder`` maps a
crop's colour to a vector so that the same colour means the same person.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from reidcam.core.status import SourceState, SourceStatus
from reidcam.core.types import Detections, Embeddings, Frame, l2_normalize

BACKGROUND = 40


class FakeDetector:
    """Finds non-background blobs of at least ``min_area_px`` pixels."""

    def __init__(self, min_area_px: int = 50, fail_on: set[int] | None = None) -> None:
        self.min_area_px = min_area_px
        self.calls = 0
        self.fail_on = fail_on or set()

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        self.calls += 1
        if self.calls in self.fail_on:
            raise RuntimeError(f"fake detector failure on call {self.calls}")
        return [self._one(img) for img in images]

    def _one(self, image: NDArray[np.uint8]) -> Detections:
        mask = (np.abs(image.astype(np.int16) - BACKGROUND).max(axis=2) > 8).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
        boxes = [(x, y, x + w, y + h) for x, y, w, h, area in stats[1:n].tolist() if area >= self.min_area_px]
        if not boxes:
            return Detections.empty()
        xyxy = np.asarray(boxes, np.float32)
        return Detections(xyxy, np.full(len(boxes), 0.9, np.float32))


class BusyDetector(FakeDetector):
    """Takes ``delay_s`` per batch once ``busy`` is set: the batch a Stop on a loaded machine
    waits for."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s
        self.busy = threading.Event()

    def detect(self, images: Sequence[NDArray[np.uint8]]) -> list[Detections]:
        if self.busy.is_set():
            time.sleep(self.delay_s)
        return super().detect(images)


class FakeEmbedder:
    """Colour -> vector: RBF features of the crop's median BGR colour.

    Identical colours give similarity 1; colours 60+ levels apart give a
    similarity near 0, like different people for a real ReID model.
    """

    def __init__(self, dim: int = 64, model_id: str = "fake-colour-v1", sigma: float = 40.0) -> None:
        self.dim = dim
        self.model_id = model_id
        rng = np.random.default_rng(7)
        self._centers = rng.uniform(0, 255, size=(dim, 3)).astype(np.float32)
        self._sigma = sigma
        self.calls = 0
        self.batch_sizes: list[int] = []

    def embed(self, crops: Sequence[NDArray[np.uint8]]) -> Embeddings:
        self.calls += 1
        self.batch_sizes.append(len(crops))
        if len(crops) == 0:
            return Embeddings.empty(self.dim, self.model_id)
        colours = np.stack([np.median(c.reshape(-1, 3), axis=0) for c in crops]).astype(np.float32)
        d2 = ((colours[:, None, :] - self._centers[None, :, :]) ** 2).sum(axis=2)
        feats = np.exp(-d2 / (2 * self._sigma**2)) + 1e-6
        return Embeddings(l2_normalize(feats), self.model_id)


class FakeSource:
    """A finite, in-memory camera; optionally raises on a given read to test faults."""

    def __init__(
        self, camera_id: str, images: Sequence[NDArray[np.uint8]], fail_at: int | None = None
    ) -> None:
        self.camera_id = camera_id
        self._images = list(images)
        self._pos = 0
        self._fail_at = fail_at
        self._state = SourceState.STARTING
        self._last_at: float | None = None

    @property
    def is_live(self) -> bool:
        return False

    def open(self) -> None:
        self._state = SourceState.LIVE

    def read(self) -> Frame | None:
        if self._fail_at is not None and self._pos == self._fail_at:
            self._fail_at = None
            raise OSError("fake read failure")
        if self._pos >= len(self._images) or self._state is SourceState.STOPPED:
            self._state = SourceState.ENDED
            return None
        img = self._images[self._pos]
        frame = Frame(self.camera_id, self._pos, img, time.time(), name=f"{self._pos:06d}.png")
        self._pos += 1
        self._last_at = time.monotonic()
        return frame

    def close(self) -> None:
        self._state = SourceState.STOPPED

    def status(self) -> SourceStatus:
        age = None if self._last_at is None else time.monotonic() - self._last_at
        return SourceStatus(self.camera_id, self._state, self._pos, 0, age, None, "fake")
