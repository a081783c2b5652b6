"""The sighting's best crop (what storage keeps): best gate score first, then the larger box."""

import numpy as np
import pytest

from reidcam.core.types import BestCrop, l2_normalize
from reidcam.pipeline.sightings import SightingBook


def _crop(quality: float, height: int, frame: int) -> BestCrop:
    img = np.zeros((height, 20, 3), np.uint8)
    return BestCrop(
        img, np.array([0, 0, 20, height], np.float32), quality, frame, 100.0 + frame, f"{frame}.jpg"
    )


def _v(seed: int) -> np.ndarray:
    return l2_normalize(np.random.default_rng(seed).normal(size=8))


def test_the_book_keeps_the_best_crop_of_each_sighting_part():
    book = SightingBook("cam", switch_similarity=0.5)
    book.observe(1, 0, 100.0)
    alice = _v(1)
    book.add_embedding(1, alice, "m", 0, best_crop=_crop(0.8, 100, 0))
    book.add_embedding(1, alice, "m", 1, best_crop=_crop(1.0, 120, 1))
    book.add_embedding(1, alice, "m", 2, best_crop=_crop(1.0, 160, 2))  # same score, larger
    book.add_embedding(1, alice, "m", 3, best_crop=_crop(0.9, 300, 3))  # larger, worse score
    book.add_embedding(1, alice, "m", 4)  # no crop offered
    snap = book.snapshot(1)
    assert snap.best_crop.frame_index == 2 and snap.best_crop_quality == 1.0

    bob = l2_normalize(_v(2) - float(_v(2) @ alice) * alice)
    book.add_embedding(1, bob, "m", 5, best_crop=_crop(0.5, 90, 5))  # a track swap splits
    closed = book.expire(5)
    assert closed[0].best_crop.frame_index == 2
    assert book.snapshot(1).best_crop.frame_index == 5, "the new part starts its own best crop"


def test_best_crop_validates_its_image_and_box():
    with pytest.raises(ValueError):
        BestCrop(np.zeros((4, 4), np.uint8), np.zeros(4, np.float32), 1.0, 0, 0.0)
    with pytest.raises(ValueError):
        BestCrop(np.zeros((4, 4, 3), np.uint8), np.zeros(3, np.float32), 1.0, 0, 0.0)
