"""Crop files on disk: atomic writes, paths relative to the data directory."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

#: Size of the file that tells whether a failing folder takes writes again: about one crop, so a
#: full disk still refuses it (an empty file can fit where no crop does).
PROBE_BYTES = 64 * 1024


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
    raised: losing a crop file must not stop detection. The first failure of a run of
    failures is logged as an error, the rest at debug level (a full disk would otherwise
    log every crop of every frame); the first success after them is logged as resumed.
    ``failing`` says whether the latest write failed (for a status warning).
    """

    def __init__(self, root: Path, jpeg_quality: int = 90) -> None:
        self.root = Path(root)
        self.jpeg_quality = jpeg_quality
        self.writes = 0
        self.write_errors = 0
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.last_write_at: float | None = None
        self.failing = False
        self._failed_dir: Path | None = None
        self._probed_at = 0.0
        self._lock = threading.Lock()

    def save(self, relpath: str, image: NDArray[np.uint8]) -> str | None:
        """Write ``image`` to ``root/relpath``; the relative path, or None on failure."""
        target = self.root / relpath
        try:
            atomic_write_bytes(target, encode_jpeg(image, self.jpeg_quality))
        except (OSError, ValueError) as exc:
            self._failed(f"cannot write crop {target}: {exc}", target.parent)
            return None
        with self._lock:
            self.writes += 1
            self.last_write_at = time.time()
        self._works_again()
        return relpath

    def recheck(self, every_s: float = 2.0) -> bool:
        """While failing, try the folder that failed (at most every ``every_s``): True once it takes
        a file again. Crops are written only now and then (a card keeps a few), so without this a
        fixed disk could go on showing its warning for minutes."""
        folder = self._failed_dir
        now = time.monotonic()
        if not self.failing or folder is None or now - self._probed_at < every_s:
            return False
        self._probed_at = now
        try:
            atomic_write_bytes(folder / ".reidcam-write-probe", bytes(PROBE_BYTES))
            (folder / ".reidcam-write-probe").unlink()
        except OSError:
            return False
        self._works_again()
        return True

    def _works_again(self) -> None:
        with self._lock:
            was_failing, self.failing = self.failing, False
        if was_failing:
            log.warning("crop writes under %s work again (%d failed so far)", self.root, self.write_errors)

    def _failed(self, message: str, folder: Path) -> None:
        with self._lock:
            self.write_errors += 1
            self.last_error, self.last_error_at = message, time.time()
            self._failed_dir = folder
            first, self.failing = not self.failing, True
        if first:
            log.error("%s; detection goes on without saving crops until writes work again", message)
        else:
            log.debug("%s", message)
