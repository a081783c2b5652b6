"""Query images: read them safely and enroll them in the gallery."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from reidcam.core.errors import ImageError
from reidcam.match.gallery import Gallery
from reidcam.reid.backends.base import Embedder

MAX_QUERY_PIXELS = 40_000_000


def decode_image(data: bytes, what: str = "image") -> NDArray[np.uint8]:
    """Decode JPEG/PNG/... bytes to BGR uint8.

    Raises:
        ImageError: not an image, truncated, or larger than MAX_QUERY_PIXELS.
    """
    buf = np.frombuffer(data, np.uint8)
    if buf.size == 0:
        raise ImageError(f"{what} is empty")
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        raise ImageError(f"{what} is not a readable image (JPEG, PNG, BMP or WebP)")
    if img.shape[0] * img.shape[1] > MAX_QUERY_PIXELS:
        raise ImageError(f"{what} is too large ({img.shape[1]}x{img.shape[0]} pixels)")
    return np.ascontiguousarray(img)


def read_image(path: str | Path) -> NDArray[np.uint8]:
    """Read an image file as BGR uint8. Raises ImageError with the path on failure."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read query image {p}: {exc.strerror or exc}") from exc
    return decode_image(data, what=f"query image {p}")


def enroll(
    gallery: Gallery,
    embedder: Embedder,
    query_id: str,
    images: Sequence[NDArray[np.uint8]],
    label: str | None = None,
    source: str = "",
    cameras: Sequence[str | None] | None = None,
) -> None:
    """Embed query crops and add them to ``query_id`` in the gallery (one batch).

    ``cameras``: per image, the camera it was cropped from (None: unknown, e.g. a photo).
    """
    if not images:
        raise ImageError("no query images given")
    gallery.add(query_id, embedder.embed(list(images)), label=label, source=source, cameras=cameras)
