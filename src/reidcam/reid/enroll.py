"""Query images: read them safely, pick the person in an uploaded photo, enroll them in the gallery."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from reidcam.core.errors import ImageError
from reidcam.detect.base import Detector
from reidcam.match.gallery import Gallery
from reidcam.reid.backends.base import Embedder
from reidcam.reid.crop_gate import extract_crops

MAX_QUERY_PIXELS = 40_000_000
#: A person box covering at least this share of the photo means the photo already is a crop.
CROP_AREA_SHARE = 0.5


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


@dataclass(frozen=True)
class PersonPick:
    image: NDArray[np.uint8]
    used: Literal["largest_person_box", "whole_image"]
    box: list[float] | None
    message: str


def pick_person(image: NDArray[np.uint8], detector: Detector) -> PersonPick:
    """The person to search for in a photo: the largest detected person, or the whole photo.

    A photo that is already a crop (the largest person fills most of it), or one
    with no person found, is used whole.
    """
    dets = detector.detect([image])[0]
    h, w = image.shape[:2]
    if len(dets) == 0:
        return PersonPick(image, "whole_image", None, "no person detected; the whole photo is the query")
    areas = (dets.xyxy[:, 2] - dets.xyxy[:, 0]) * (dets.xyxy[:, 3] - dets.xyxy[:, 1])
    best = int(np.argmax(areas))
    box = [round(float(v), 1) for v in dets.xyxy[best]]
    if areas[best] >= CROP_AREA_SHARE * w * h:
        return PersonPick(image, "whole_image", box, "the photo shows one person; used as it is")
    crop = extract_crops(image, dets.xyxy[best : best + 1])[0]
    if crop is None:
        return PersonPick(
            image, "whole_image", None, "the person box was empty; the whole photo is the query"
        )
    msg = f"{len(dets)} person(s) detected; the largest (box {box}) is the query"
    return PersonPick(crop, "largest_person_box", box, msg)
