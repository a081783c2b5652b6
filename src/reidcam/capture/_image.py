"""Small helpers shared by the source kinds."""

from __future__ import annotations

import time

import cv2
import numpy as np
from numpy.typing import NDArray


def to_bgr(image: object) -> NDArray[np.uint8] | None:
    """Coerce a decoded image to BGR uint8 HWC, or None if it is not a usable image.

    Cameras and files occasionally hand back grey, BGRA or 16-bit images, and a
    failing backend may return an empty array with ``ok=True``; every stage after
    capture assumes 3-channel uint8, so the conversion happens once, here.
    """
    if not isinstance(image, np.ndarray) or image.size == 0:
        return None
    img = image
    if img.dtype != np.uint8:
        if img.dtype == np.uint16:
            img = (img >> 8).astype(np.uint8)
        else:
            return None
    if img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 1):
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if img.ndim != 3 or img.shape[2] != 3:
        return None
    return np.ascontiguousarray(img)


def age_s(since_monotonic: float | None) -> float | None:
    """Seconds elapsed since a ``time.monotonic()`` stamp, None if there is none."""
    return None if since_monotonic is None else max(0.0, time.monotonic() - since_monotonic)
