"""Crop files of the web app: opaque ids, the brief's folders, no path ever taken from a request."""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from reidcam.core.types import Frame
from reidcam.storage.crop_store import CropStore

#: Folders of the product brief, relative to the data directory.
QUERY_DIR, ALL_CROPS_DIR, MATCHED_DIR, UNMATCHED_DIR = (
    "query",
    "query_images",
    "match_detections",
    "detections",
)
#: Close calls (verdict uncertain) are kept apart from the unmatched crops, so they can be reviewed.
UNCERTAIN_DIR = "uncertain_detections"
FOLDERS = (QUERY_DIR, ALL_CROPS_DIR, MATCHED_DIR, UNCERTAIN_DIR, UNMATCHED_DIR)

#: What a crop id looks like: ``<run stamp>-<sequence>``; anything else is rejected unread.
CROP_ID_RE = re.compile(r"^[0-9]{8}T[0-9]{6}-[0-9]{1,9}$")


@dataclass(frozen=True)
class CropRecord:
    """One saved crop. ``relpath`` is relative to the data directory; ``xyxy`` frame pixels."""

    crop_id: str
    camera_id: str | None
    card_id: str | None
    folder: str
    relpath: str
    frame_index: int | None
    frame_name: str | None
    xyxy: tuple[float, float, float, float] | None
    captured_at: float
    quality_ok: bool = True
    similarity: float | None = None


def _rounded_box(xyxy: NDArray[np.float32]) -> tuple[float, float, float, float]:
    """A (4,) xyxy box as the record's 4-tuple, 0.1 px precision."""
    x1, y1, x2, y2 = (round(float(v), 1) for v in xyxy)
    return (x1, y1, x2, y2)


class CropIndex:
    """Saves crops through a CropStore and remembers the newest ``max_records`` by id.

    Thread-safe. Ids are minted here (a run stamp and a counter), so a crop id
    from a request is only ever used as a dictionary key, never as a path.
    """

    def __init__(self, data_dir: Path, jpeg_quality: int = 90, max_records: int = 5000) -> None:
        self.data_dir = Path(data_dir)
        for name in FOLDERS:
            (self.data_dir / name).mkdir(parents=True, exist_ok=True)
        self.store = CropStore(self.data_dir, jpeg_quality)
        self.run_stamp = time.strftime("%Y%m%dT%H%M%S")
        self.max_records = max_records
        self._lock = threading.Lock()
        self._seq = 0
        self._records: OrderedDict[str, CropRecord] = OrderedDict()

    def mint(self) -> str:
        with self._lock:
            self._seq += 1
            return f"{self.run_stamp}-{self._seq}"

    def save(
        self,
        folder: str,
        image: NDArray[np.uint8],
        name: str,
        *,
        frame: Frame | None = None,
        card_id: str | None = None,
        xyxy: NDArray[np.float32] | None = None,
        quality_ok: bool = True,
        similarity: float | None = None,
    ) -> CropRecord | None:
        """Write ``image`` to ``folder/<name>_<id>.jpg`` and index it; None if the write failed."""
        crop_id = self.mint()
        relpath = self.store.save(f"{folder}/{name}_{crop_id}.jpg", image)
        if relpath is None:
            return None
        box = None if xyxy is None else _rounded_box(xyxy)
        record = CropRecord(
            crop_id=crop_id,
            camera_id=None if frame is None else frame.camera_id,
            card_id=card_id,
            folder=folder,
            relpath=relpath,
            frame_index=None if frame is None else frame.index,
            frame_name=None if frame is None else frame.name,
            xyxy=box,
            captured_at=time.time() if frame is None else frame.captured_at,
            quality_ok=quality_ok,
            similarity=similarity,
        )
        with self._lock:
            self._records[crop_id] = record
            while len(self._records) > self.max_records:
                self._records.popitem(last=False)
        return record

    def copy_to(self, folder: str, image: NDArray[np.uint8], name: str) -> str | None:
        """Save a plain copy (no id): the matched/unmatched folders of the brief."""
        return self.store.save(f"{folder}/{name}.jpg", image)

    def get(self, crop_id: str) -> CropRecord | None:
        if not CROP_ID_RE.match(crop_id):
            return None
        with self._lock:
            return self._records.get(crop_id)

    def path(self, crop_id: str) -> Path | None:
        """The file of a known crop id, resolved and checked to lie inside the data directory."""
        record = self.get(crop_id)
        if record is None:
            return None
        root = self.data_dir.resolve()
        target = (root / record.relpath).resolve()
        if root not in target.parents or not target.is_file():
            return None
        return target

    @property
    def write_errors(self) -> int:
        return self.store.write_errors
