"""Crop files on disk: atomic writes, paths relative to the data directory."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temp file in the same folder + rename, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def encode_jpeg(image: NDArray[np.uint8], quality: int = 90) -> bytes:
    """BGR uint8 image -> JPEG bytes. Raises ValueError if OpenCV cannot encode it."""
    ok, buf = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise ValueError(f"cannot encode image of shape {image.shape} as JPEG")
    return bytes(buf.tobytes())


class CropStore:
    """Saves crops under ``root``; returns paths relative to it for database rows.

    A failed write (disk full, read-only folder) is logged and counted, never
    raised: losing a crop file must not stop detection.
    """

    def __init__(self, root: Path, jpeg_quality: int = 90) -> None:
        self.root = Path(root)
        self.jpeg_quality = jpeg_quality
        self.write_errors = 0
        self.last_error: str | None = None

    def save(self, relpath: str, image: NDArray[np.uint8]) -> str | None:
        """Write ``image`` to ``root/relpath``; the relative path, or None on failure."""
        target = self.root / relpath
        try:
            atomic_write_bytes(target, encode_jpeg(image, self.jpeg_quality))
        except (OSError, ValueError) as exc:
            self.write_errors += 1
            self.last_error = f"cannot write {target}: {exc}"
            log.error("%s", self.last_error)
            return None
        return relpath
