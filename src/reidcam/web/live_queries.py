"""The query people chosen in the UI: enrolled in the gallery, saved under query/."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np
from fastapi import HTTPException
from numpy.typing import NDArray

from reidcam.core.types import Embeddings
from reidcam.identity import IdentityMemory
from reidcam.match.gallery import Gallery
from reidcam.reid.backends.base import Embedder
from reidcam.reid.enroll import enroll
from reidcam.web.crop_index import QUERY_DIR, CropIndex
from reidcam.web.uploads import decode_upload

QuerySource = Literal["crops", "upload", "memory", "shared"]
#: Height of the query pictures shared with other web servers (pixels).
SHARED_IMAGE_HEIGHT = 160


@dataclass(frozen=True)
class SharedQuery:
    """A query person another web server shared: its id, label, embeddings and pictures (JPEG)."""

    query_id: str
    label: str
    embeddings: Embeddings
    images: tuple[bytes, ...] = ()


def decode_jpeg(data: bytes) -> NDArray[np.uint8] | None:
    """A shared picture as a BGR image; None when it is not a readable image of an accepted
    size (its header is checked before decoding, as for an upload: any broker client can write
    the shared settings)."""
    try:
        return decode_upload(data)
    except HTTPException:
        return None


#: Query ids of identities restored from the identity memory start with this.
MEMORY_PREFIX = "idn_"


@dataclass
class QueryRecord:
    query_id: str
    label: str
    source: QuerySource
    created_at: float
    image_ids: list[str] = field(default_factory=list)
    # crop id of each query image in gallery order (None where saving it failed): the views
    # MatchDecision.view points at
    view_ids: list[str | None] = field(default_factory=list)


class QueryBook:
    """Thread-safe list of the query identities, kept in step with the matcher's gallery.

    Replacing the query adds the new identity before removing the old ones, so
    the gallery is never empty in between and a failed embedding changes nothing.
    """

    def __init__(self, gallery: Gallery, embedder: Embedder, crops: CropIndex, id_prefix: str = "q") -> None:
        self.gallery = gallery
        self.embedder = embedder
        self.crops = crops
        # Query ids are f"{id_prefix}{n}"; web servers sharing queries each need their own prefix.
        self.id_prefix = id_prefix
        self._lock = threading.Lock()
        self._n = 0
        self._records: dict[str, QueryRecord] = {}

    def add(
        self,
        images: Sequence[NDArray[np.uint8]],
        label: str | None,
        source: QuerySource,
        replace: bool,
        cameras: Sequence[str | None] | None = None,
    ) -> QueryRecord:
        """Enroll one person from ``images`` (BGR uint8 crops); ``replace`` drops the others.
        ``cameras``: per image, the camera it was cropped from (None: unknown, e.g. a photo).

        Raises:
            ImageError: no images. ValueError: the embedder changed model.
        """
        with self._lock:
            self._n += 1
            qid = f"{self.id_prefix}{self._n}"
            others = [] if replace else list(self._records.values())
            name = label or ("query" if not others else f"query {len(others) + 1}")
            enroll(self.gallery, self.embedder, qid, images, label=name, source=source, cameras=cameras)
            if replace:
                for old in list(self._records):
                    self.gallery.remove(old)
                self._records.clear()
            record = QueryRecord(qid, name, source, time.time())
            self._records[qid] = record
            self._save(record, images)
            return record

    def _save(self, record: QueryRecord, images: Sequence[NDArray[np.uint8]]) -> None:
        """``query/query.jpg`` is the newest query's first image (the brief's file), then
        ``query/query_N.jpg``; each image is also kept under its own id for the UI."""
        for i, img in enumerate(images):
            self.crops.store.save(f"{QUERY_DIR}/query.jpg" if i == 0 else f"{QUERY_DIR}/query_{i}.jpg", img)
            saved = self.crops.save(QUERY_DIR, img, record.query_id)
            record.view_ids.append(None if saved is None else saved.crop_id)
            if saved is not None:
                record.image_ids.append(saved.crop_id)

    def sync_memory(self, memory: IdentityMemory, model_id: str) -> int:
        """Make every named identity of the memory a query (source 'memory', id = identity id).

        Called at startup, so matching resumes after a restart, and after a rename, merge or
        delete. Identities gone or unnamed since the last sync stop being queries.
        Returns how many named identities are queries now.
        """
        with self._lock:
            for qid in [q for q, rec in self._records.items() if rec.source == "memory"]:
                self.gallery.remove(qid)
                del self._records[qid]
            memory.export_to_gallery(self.gallery, model_id, named_only=True)
            now = time.time()
            restored = [i for i in self.gallery.identities() if i.query_id.startswith(MEMORY_PREFIX)]
            for ident in restored:
                if ident.query_id not in self._records:
                    self._records[ident.query_id] = QueryRecord(ident.query_id, ident.label, "memory", now)
            return len(restored)

    def adopt(self, people: Sequence[SharedQuery]) -> bool:
        """Make the queries exactly ``people``: the set another web server shared. Queries of
        this server that are in it keep their images; the others go; new ones come with the
        pictures shared with them, if any (source 'shared'). True when anything changed."""
        with self._lock:
            wanted = {p.query_id: p for p in people}
            gone = [qid for qid in self._records if qid not in wanted]
            for qid in gone:
                self.gallery.remove(qid)
                del self._records[qid]
            now, changed = time.time(), bool(gone)
            for qid, person in wanted.items():
                record = self._records.get(qid)
                if record is not None:
                    if record.label != person.label and person.label:
                        record.label, changed = person.label, True
                    continue
                label = person.label or qid
                self.gallery.add(qid, person.embeddings, label=label, source="shared")
                record = self._records[qid] = QueryRecord(qid, label, "shared", now)
                self._save(record, [img for img in map(decode_jpeg, person.images) if img is not None])
                changed = True
            return changed

    def image_jpegs(self, query_id: str, max_height: int = SHARED_IMAGE_HEIGHT) -> tuple[bytes, ...]:
        """The query's pictures as small JPEGs (at most ``max_height`` pixels high), to share."""
        with self._lock:
            record = self._records.get(query_id)
            ids = list(record.image_ids) if record is not None else []
        out = []
        for crop_id in ids:
            path = self.crops.path(crop_id)
            image = None if path is None else cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                continue
            h, w = image.shape[:2]
            if h > max_height:
                image = cv2.resize(
                    image, (max(1, round(w * max_height / h)), max_height), interpolation=cv2.INTER_AREA
                )
            ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
            if ok:
                out.append(bytes(buf))
        return tuple(out)

    def clear(self) -> None:
        with self._lock:
            for qid in list(self._records):
                self.gallery.remove(qid)
            self._records.clear()

    def records(self) -> list[QueryRecord]:
        with self._lock:
            return [
                QueryRecord(r.query_id, r.label, r.source, r.created_at, list(r.image_ids))
                for r in self._records.values()
            ]

    def labels(self) -> dict[str, str]:
        with self._lock:
            return {r.query_id: r.label for r in self._records.values()}

    def views(self) -> dict[str, list[str | None]]:
        """Per query, the crop id of each of its gallery views (query images)."""
        with self._lock:
            return {r.query_id: list(r.view_ids) for r in self._records.values()}
