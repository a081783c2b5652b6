"""Market-1501 folder layout: read a labelled set, write one.

Layout: ``query/``, ``bounding_box_test/`` (the gallery) and ``bounding_box_train/``, image
names ``<pid>_c<cam>s<seq>_<frame>_<n>.jpg``. pid -1 marks junk (bad boxes), 0000 distractors
(people outside the evaluated identities). Reading accepts multi-digit camera numbers (the
original Market has 6 cameras, other sets more); writing uses Market's own format.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from reidcam.capture import imread_color
from reidcam.core.errors import ReidcamError

log = logging.getLogger(__name__)

SPLITS = ("query", "bounding_box_test", "bounding_box_train")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
_NAME = re.compile(r"^(-?\d+)_c(\d+)")


class DatasetError(ReidcamError):
    """A labelled folder is missing, empty or has names that do not follow the Market layout."""


@dataclass(frozen=True)
class Item:
    """One labelled image: ``pid`` person id (-1 junk, 0 distractor), ``camid`` camera number."""

    path: Path
    pid: int
    camid: int


@dataclass
class MarketSet:
    """The three splits of a Market-layout folder (a missing split is an empty list)."""

    root: Path
    splits: dict[str, list[Item]] = field(default_factory=dict)

    @property
    def query(self) -> list[Item]:
        return self.splits.get("query", [])

    @property
    def gallery(self) -> list[Item]:
        return self.splits.get("bounding_box_test", [])

    @property
    def train(self) -> list[Item]:
        return self.splits.get("bounding_box_train", [])


def parse_market_name(name: str) -> tuple[int, int]:
    """``'0001_c1s1_001051_00.jpg'`` -> (pid 1, camera 1).

    Raises:
        DatasetError: the name does not start with ``<pid>_c<cam>``.
    """
    m = _NAME.match(name)
    if m is None:
        raise DatasetError(f"{name!r} is not a Market-1501 name (<pid>_c<cam>s<seq>_<frame>_<n>.jpg)")
    return int(m.group(1)), int(m.group(2))


def market_name(pid: int, cam: int, seq: int, frame: int, n: int) -> str:
    """The Market-1501 file name of one crop: ``0001_c1s1_001051_00.jpg`` (junk is ``-1_c...``)."""
    head = "-1" if pid < 0 else f"{pid:04d}"
    return f"{head}_c{cam}s{seq}_{frame:06d}_{n:02d}.jpg"


def list_split(root: Path, split: str) -> list[Item]:
    """Every image of ``root/split`` with its labels, sorted by name; [] when the folder is absent."""
    folder = Path(root) / split
    if not folder.is_dir():
        return []
    items = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            pid, cam = parse_market_name(path.name)
            items.append(Item(path, pid, cam))
    return items


def load_market(root: str | Path, splits: Iterable[str] = SPLITS) -> MarketSet:
    """Read the splits of a Market-layout folder.

    Raises:
        DatasetError: the folder does not exist or holds none of the requested splits.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    wanted = list(splits)
    data = MarketSet(root, {s: list_split(root, s) for s in wanted})
    if not any(data.splits.values()):
        raise DatasetError(f"{root} has no images in {', '.join(wanted)} (Market-1501 layout expected)")
    for split, items in data.splits.items():
        log.info("%s/%s: %d images, %d identities", root.name, split, len(items), len({i.pid for i in items}))
    return data


def read_images(items: Iterable[Item]) -> list[NDArray[np.uint8]]:
    """BGR uint8 images of ``items``, in order.

    Raises:
        DatasetError: an image cannot be read.
    """
    out = []
    for item in items:
        img = imread_color(item.path)
        if img is None or img.size == 0:
            raise DatasetError(f"cannot read image {item.path}")
        out.append(img)
    return out


def labels(items: list[Item]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(pids, camids) arrays of ``items``."""
    return (
        np.array([i.pid for i in items], np.int64).reshape(-1),
        np.array([i.camid for i in items], np.int64).reshape(-1),
    )


def write_image(path: Path, image: NDArray[np.uint8], jpeg_quality: int = 95) -> None:
    """Write one crop (creating its folder).

    Raises:
        DatasetError: OpenCV could not encode or write it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]):
        raise DatasetError(f"cannot write {path}")
