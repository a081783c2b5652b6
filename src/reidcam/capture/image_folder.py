"""A folder or glob of still images played as a finite camera (datasets, snapshots)."""

from __future__ import annotations

import glob
import logging
import os
import re
import time
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from reidcam.capture._image import age_s, to_bgr
from reidcam.core.errors import SourceError
from reidcam.core.status import SourceState, SourceStatus
from reidcam.core.types import Frame

logger = logging.getLogger(__name__)

#: File suffixes (lower case) picked up when the source is a directory.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
GLOB_CHARS = frozenset("*?[")
_DIGITS_RE = re.compile(r"(\d+)")


def has_glob_chars(text: str) -> bool:
    """True if ``text`` contains a glob wildcard (``*``, ``?`` or ``[``)."""
    return any(c in GLOB_CHARS for c in text)


def natural_key(path: Path) -> tuple[object, ...]:
    """Sort key by file name with digit runs compared as numbers (``f2`` before ``f10``).

    Zero-padded names (most datasets) sort the same as plain text; unpadded
    exports (``frame_9.jpg``, ``frame_10.jpg``) still play in capture order.
    The full path breaks ties so the order is total and reproducible.
    """
    parts = _DIGITS_RE.split(path.name.lower())
    key = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)
    return (key, str(path))


def list_images(path_or_glob: str | Path) -> list[Path]:
    """Image files of a directory, a glob pattern or a single image file, sorted by name.

    Args:
        path_or_glob: a directory (every .jpg/.jpeg/.png/.bmp/.webp directly in
            it), a glob such as ``/x/frames/c1s1_*.jpg`` (``**`` recurses), or one file.

    Returns:
        Paths sorted with :func:`natural_key`; empty if nothing matches.
    """
    text = os.path.expanduser(str(path_or_glob))
    path = Path(text)
    if path.is_dir():
        files = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    elif path.is_file():
        files = [path]
    elif has_glob_chars(text):
        files = [Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file()]
    else:
        files = []
    return sorted(files, key=natural_key)


def imread_color(path: Path) -> NDArray[np.uint8] | None:
    """``cv2.imread(path, IMREAD_COLOR)``: BGR uint8 HWC, or None when unreadable.

    OpenCV's stubs type any decoded image as int-or-float; IMREAD_COLOR always gives
    uint8, so the asarray below is a no-op that states the dtype.
    """
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if img is None else np.asarray(img, dtype=np.uint8)


def read_image(path: Path) -> np.ndarray | None:
    """Decode one image file to BGR uint8, or None if it is missing or not an image.

    Reads the bytes with NumPy and decodes with ``cv2.imdecode`` so non-ASCII
    paths work on every platform (``cv2.imread`` fails on them on Windows).
    """
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        logger.warning("cannot read image %s: %s", path, exc)
        return None
    if data.size == 0:
        return None
    return to_bgr(cv2.imdecode(data, cv2.IMREAD_COLOR))


class ImageFolderSource:
    """Plays the images of a folder or glob in name order, one frame each.

    Finite: ``read`` returns None after the last image. An unreadable file is
    logged and skipped, since one corrupt file in a dataset should not stop a run.
    ``Frame.index`` is the file's position in the sorted list (a skipped file
    leaves a gap) and ``Frame.name`` its file name.
    """

    def __init__(self, camera_id: str, path_or_glob: str | Path) -> None:
        self.camera_id = camera_id
        self.path_or_glob = str(path_or_glob)
        self._files: list[Path] | None = None
        self._pos = 0
        self._state = SourceState.STARTING
        self._frames_read = 0
        self._skipped = 0
        self._last_frame_mono: float | None = None
        self._last_error: str | None = None

    @property
    def is_live(self) -> bool:
        return False

    @property
    def files(self) -> list[Path]:
        """The sorted image files (empty before ``open``)."""
        return list(self._files or [])

    @property
    def skipped(self) -> int:
        """Number of files that could not be decoded and were skipped."""
        return self._skipped

    def open(self) -> None:
        """List the images. Calling it again on an open source does nothing.

        Raises:
            SourceError: the folder is empty or missing, or the glob matches nothing.
        """
        if self._files is not None:
            return
        files = list_images(self.path_or_glob)
        if not files:
            self._state = SourceState.FAILED
            self._last_error = self._empty_message()
            raise SourceError(self._last_error)
        self._files = files
        self._state = SourceState.LIVE
        logger.info("camera %r: %d images from %s", self.camera_id, len(files), self.path_or_glob)

    def _empty_message(self) -> str:
        where = self.path_or_glob
        if Path(where).is_dir():
            kinds = "/".join(sorted(s.lstrip(".") for s in IMAGE_SUFFIXES))
            return f"camera {self.camera_id!r}: image folder {where} has no images ({kinds})"
        if has_glob_chars(where):
            return f"camera {self.camera_id!r}: no image file matches the pattern {where}"
        return f"camera {self.camera_id!r}: image source {where} does not exist"

    def read(self) -> Frame | None:
        """The next decodable image as a Frame, or None at the end or after ``close``.

        Opens the source first if ``open`` was not called.
        """
        if self._state in (SourceState.STOPPED, SourceState.ENDED):
            return None
        if self._files is None:
            self.open()
        files = self._files or []
        while self._pos < len(files):
            pos, path = self._pos, files[self._pos]
            self._pos += 1
            image = read_image(path)
            if image is None:
                self._skip(path)
                continue
            self._frames_read += 1
            self._last_frame_mono = time.monotonic()
            return Frame(self.camera_id, pos, image, time.time(), name=path.name)
        self._state = SourceState.ENDED
        logger.info("camera %r: image folder ended after %d frames", self.camera_id, self._frames_read)
        return None

    def _skip(self, path: Path) -> None:
        self._skipped += 1
        self._last_error = f"unreadable image skipped: {path.name}"
        logger.warning("camera %r: skipping unreadable image %s", self.camera_id, path)

    def close(self) -> None:
        """Stop playing; later ``read`` calls return None."""
        self._state = SourceState.STOPPED

    def status(self) -> SourceStatus:
        n = len(self._files) if self._files is not None else 0
        return SourceStatus(
            camera_id=self.camera_id,
            state=self._state,
            frames_read=self._frames_read,
            reconnects=0,
            last_frame_age_s=age_s(self._last_frame_mono),
            last_error=self._last_error,
            description=f"image folder {self.path_or_glob} ({n} images)",
        )
