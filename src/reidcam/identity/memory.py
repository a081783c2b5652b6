"""IdentityMemory: the database of people, their sightings and a user's feedback.

The one object the web app, the CLI and the pipeline sink talk to. Every write is one database
transaction, serialised within the process by a lock; crop files are written before the row
that names them commits and deleted after the row is gone (see ``storage.files``).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from reidcam.core.types import Embeddings, Sighting, l2_normalize
from reidcam.identity import feedback, reads
from reidcam.identity import records as r
from reidcam.identity.models import (
    Assignment,
    DecisionInfo,
    IdentityInfo,
    IdentitySettings,
    PurgeReport,
    Recorded,
    SearchHit,
    SearchResult,
    SightingInfo,
)
from reidcam.identity.retention import purge_expired
from reidcam.identity.track_crops import remove_span_crops
from reidcam.storage import tables as t
from reidcam.storage.crop_store import CropStore
from reidcam.storage.db import StorageError, default_url, make_engine, read_tx, upgrade, write_tx
from reidcam.storage.files import SweepReport, remove_files, safe_path, sweep
from reidcam.storage.vector_ops import (
    EXACT_MAX_ROWS,
    SightingFilter,
    ensure_ann_index,
    identity_scores,
    nearest_sightings,
    search_ef,
)

if TYPE_CHECKING:
    from reidcam.match.gallery import Gallery
    from reidcam.reid.backends.base import Embedder

log = logging.getLogger(__name__)

CROP_FOLDER = "memory"
#: The most sightings one search reads to find k distinct views among repeats.
SEARCH_FETCH_MAX = 1000
_UNSET = object()
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _folder_name(text: str) -> str:
    name = _UNSAFE.sub("_", text)[:64]
    return name if name.strip(".") else "_"


def _as_probe(vector: NDArray[np.floating]) -> NDArray[np.float32]:
    arr = np.asarray(vector, np.float32).reshape(-1)
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError("the probe vector must be a non-empty finite 1-D array")
    return l2_normalize(arr)


class IdentityMemory:
    """Global identities over all cameras, kept in a database that outlives the process.

    Build it with :meth:`open`. Thread-safe: the web threads, the pipeline's writer thread and
    the retention worker may call it at the same time.
    """

    def __init__(self, engine: Engine, data_dir: Path, settings: IdentitySettings | None = None) -> None:
        self.engine = engine
        self.data_dir = Path(data_dir)
        self.settings = settings or IdentitySettings()
        self.crops = CropStore(self.data_dir, self.settings.jpeg_quality)
        self.skipped = 0
        self._lock = threading.RLock()
        self._cameras: set[str] = set()
        self._indexed_dims: set[int] = set()

    # -- lifecycle -------------------------------------------------------
    @classmethod
    def open(
        cls,
        data_dir: Path,
        url: str | None = None,
        settings: IdentitySettings | None = None,
        sweep_min_age_s: float | None = 60.0,
    ) -> IdentityMemory:
        """Connect (SQLite in ``data_dir`` unless ``url``), migrate, and sweep leftover files.

        ``sweep_min_age_s``: remove temp and unreferenced crop files older than this (None: skip).

        Raises:
            StorageError: the database cannot be opened or migrated.
            DependencyError: a PostgreSQL URL without psycopg/pgvector installed.
        """
        engine = make_engine(url or default_url(data_dir))
        try:
            upgrade(engine)
        except Exception:
            engine.dispose()
            raise
        memory = cls(engine, data_dir, settings)
        if sweep_min_age_s is not None:
            report = memory.sweep_files(sweep_min_age_s)
            if report.temp_files or report.orphans:
                log.info("removed %d temp and %d orphan crop files", report.temp_files, report.orphans)
        return memory

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> IdentityMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._lock, write_tx(self.engine) as conn:
            yield conn

    def _read(self) -> AbstractContextManager[Connection]:
        return read_tx(self.engine)

    # -- the pipeline's entry point ---------------------------------------
    def record_sighting(self, sighting: Sighting, now: float | None = None) -> Assignment | None:
        """Store a closed sighting and place it in a global identity (one transaction).

        Returns None (and counts it in ``skipped``) when the sighting has no prototype.
        """
        if sighting.prototype is None or not sighting.model_id:
            self.skipped += 1
            return None
        return self._record(sighting, now, None).assignment

    def record_published(self, sighting: Sighting, source_id: str, now: float | None = None) -> Recorded:
        """Store a sighting received from the broker once per ``source_id`` (idempotent).

        A sighting whose ``source_id`` is stored already (redelivered, or re-sent after the
        broker's de-duplication window) writes nothing and returns the stored assignment with
        ``duplicate`` True; so does the loser of two writers racing on one id (the unique index).

        Raises:
            ValueError: the sighting has no prototype or model id.
            sqlalchemy.exc.OperationalError: the database is unavailable (nothing was written).
        """
        if sighting.prototype is None or not sighting.model_id:
            raise ValueError(f"sighting {source_id} has no prototype: nothing to store")
        try:
            return self._record(sighting, now, source_id)
        except IntegrityError:
            with self._read() as conn:
                stored = r.stored_assignment(conn, source_id)
            if stored is None:
                raise
            return Recorded(stored, duplicate=True)

    def _record(self, sighting: Sighting, now: float | None, source_id: str | None) -> Recorded:
        now = time.time() if now is None else now
        sighting_id = t.new_id(t.SIGHTING_PREFIX)
        crop_path = self._save_sighting_crop(sighting_id, sighting)
        self._ensure_index(int(np.asarray(sighting.prototype).size))
        try:
            with self._write() as conn:
                stored = None if source_id is None else r.stored_assignment(conn, source_id)
                if stored is None:
                    self._ensure_camera(conn, sighting.key.camera_id, now)
                    row, values = r.sighting_values(sighting_id, sighting, crop_path, now, source_id)
                    return Recorded(r.place(conn, row, self.settings, now, new_row=values), duplicate=False)
        except BaseException:
            remove_files(self.data_dir, [crop_path])
            raise
        remove_files(self.data_dir, [crop_path])  # a duplicate: its crop (if any) is not needed
        assert stored is not None
        return Recorded(stored, duplicate=True)

    def _save_sighting_crop(self, sighting_id: str, sighting: Sighting) -> str | None:
        crop = sighting.best_crop
        if crop is None:
            return None
        day = datetime.fromtimestamp(crop.captured_at, tz=timezone.utc).strftime("%Y-%m-%d")
        rel = f"{CROP_FOLDER}/sightings/{_folder_name(sighting.key.camera_id)}/{day}/{sighting_id}.jpg"
        return self.crops.save(rel, crop.image)

    def _ensure_camera(self, conn: Connection, camera_id: str, now: float) -> None:
        if camera_id not in self._cameras:
            r.ensure_camera(conn, camera_id, now)
            self._cameras.add(camera_id)

    def _ensure_index(self, dim: int) -> None:
        if dim in self._indexed_dims or self.engine.dialect.name != "postgresql":
            return
        try:
            with self._write() as conn:
                ensure_ann_index(conn, dim)
            self._indexed_dims.add(dim)
        except Exception:
            log.exception("cannot create the vector index for dim %d; searches will scan", dim)

    # -- people ------------------------------------------------------------
    def create_identity(self, name: str | None = None, notes: str = "") -> str:
        """A new, user-made (hence confirmed) identity with no evidence yet."""
        with self._write() as conn:
            return r.insert_identity(conn, time.time(), name=name, notes=notes, confirmed=True)

    def enroll(
        self,
        embeddings: Embeddings,
        name: str | None = None,
        crops: Sequence[NDArray[np.uint8]] | None = None,
        identity_id: str | None = None,
        notes: str = "",
    ) -> str:
        """Add photos of a person (their embeddings, and crops to show) to a new or given identity.

        Raises:
            ValueError: no embeddings, or crops not aligned with them.
            LookupError: ``identity_id`` does not exist.
        """
        if len(embeddings) == 0:
            raise ValueError("no embeddings to enroll")
        if crops is not None and len(crops) != len(embeddings):
            raise ValueError(f"{len(crops)} crops for {len(embeddings)} embeddings")
        ident = identity_id or t.new_id(t.IDENTITY_PREFIX)
        paths = [self._save_enrolled_crop(ident, c) for c in crops] if crops else [None] * len(embeddings)
        self._ensure_index(embeddings.dim)
        try:
            with self._write() as conn:
                now = time.time()
                if identity_id is None:
                    r.insert_identity(conn, now, name=name, notes=notes, confirmed=True, identity_id=ident)
                elif reads.get_identity(conn, ident) is None:
                    raise LookupError(f"no identity {ident}")
                for vec, path in zip(embeddings.vectors, paths, strict=True):
                    r.insert_enrolled(conn, ident, vec, embeddings.model_id, path, now)
                r.confirm_identity(conn, ident, now)
        except BaseException:
            remove_files(self.data_dir, paths)
            raise
        return ident

    def _save_enrolled_crop(self, identity_id: str, image: NDArray[np.uint8]) -> str | None:
        return self.crops.save(f"{CROP_FOLDER}/enrolled/{identity_id}/{t.new_id('img')}.jpg", image)

    def list_identities(
        self, limit: int = 100, offset: int = 0, named_only: bool = False
    ) -> list[IdentityInfo]:
        with self._read() as conn:
            return reads.list_identities(conn, limit, offset, named_only)

    def get_identity(self, identity_id: str) -> IdentityInfo | None:
        with self._read() as conn:
            return reads.get_identity(conn, identity_id)

    def update_identity(
        self, identity_id: str, name: object = _UNSET, notes: str | None = None
    ) -> IdentityInfo:
        """Rename (a name confirms the identity; None clears it) and/or replace the notes.

        Raises:
            LookupError: no such identity.
        """
        values: dict[str, object] = {"updated_at": time.time()}
        if name is not _UNSET:
            values["name"] = (str(name).strip() or None) if name is not None else None
        if notes is not None:
            values["notes"] = notes
        with self._write() as conn:
            res = conn.execute(
                sa.update(t.identities).where(t.identities.c.id == identity_id).values(**values)
            )
            if not res.rowcount:
                raise LookupError(f"no identity {identity_id}")
            if values.get("name"):
                r.confirm_identity(conn, identity_id, float(values["updated_at"]))  # type: ignore[arg-type]
            info = reads.get_identity(conn, identity_id)
        assert info is not None
        return info

    def delete_identity(self, identity_id: str) -> int:
        """Forget a person: the identity, its sightings, embeddings, decisions and crop files
        (the memory's and the track crops kept for ``finetune --from-memory``).

        Returns the number of files removed. Raises LookupError if there is no such identity.
        """
        with self._write() as conn:
            paths = r.identity_crop_paths(conn, identity_id)
            spans = r.track_spans(conn, t.sightings.c.identity_id == identity_id)
            res = conn.execute(sa.delete(t.identities).where(t.identities.c.id == identity_id))
            if not res.rowcount:
                raise LookupError(f"no identity {identity_id}")
        removed, _ = remove_files(self.data_dir, paths)
        return removed + remove_span_crops(self.data_dir, spans)[0]

    # -- sightings and feedback ---------------------------------------------
    def get_sighting(self, sighting_id: str) -> SightingInfo | None:
        with self._read() as conn:
            return reads.get_sighting(conn, sighting_id)

    def decisions(self, sighting_id: str) -> list[DecisionInfo]:
        with self._read() as conn:
            return reads.decisions(conn, sighting_id)

    def confirm(self, sighting_id: str) -> SightingInfo:
        """A user says the sighting is rightly in its identity: pin its embedding there."""
        with self._write() as conn:
            feedback.confirm(conn, sighting_id, self.settings, time.time())
            info = reads.get_sighting(conn, sighting_id)
        assert info is not None
        return info

    def reject(self, sighting_id: str) -> Assignment:
        """A user says the sighting is not its identity: never again; it is placed anew."""
        with self._write() as conn:
            return feedback.reject(conn, sighting_id, self.settings, time.time())

    def assign(self, sighting_id: str, identity_id: str) -> Assignment:
        """A user says the sighting is ``identity_id``: move it there and learn from it."""
        with self._write() as conn:
            return feedback.assign(conn, sighting_id, identity_id, self.settings, time.time())

    def split(self, sighting_id: str) -> Assignment:
        """Take a wrongly merged sighting out into a new identity of its own."""
        with self._write() as conn:
            return feedback.split(conn, sighting_id, self.settings, time.time())

    def merge(self, keep_id: str, other_id: str) -> IdentityInfo:
        """Two identities are one person: ``other_id`` is folded into ``keep_id``."""
        with self._write() as conn:
            feedback.merge(conn, keep_id, other_id, self.settings, time.time())
            info = reads.get_identity(conn, keep_id)
        assert info is not None
        return info

    def delete_sighting(self, sighting_id: str) -> bool:
        """Delete one sighting, its crop and its track crops; False if there was none."""
        try:
            with self._write() as conn:
                spans = r.track_spans(conn, t.sightings.c.id == sighting_id)
                paths = feedback.delete_sighting(conn, sighting_id)
        except LookupError:
            return False
        remove_files(self.data_dir, paths)
        remove_span_crops(self.data_dir, spans)
        return True

    # -- history -------------------------------------------------------------
    def timeline(
        self,
        identity_id: str,
        since: float | None = None,
        until: float | None = None,
        limit: int = 500,
        camera_ids: Sequence[str] | None = None,
    ) -> list[SightingInfo]:
        """Where and when the person was seen, oldest first (thumbnail: ``crop_path``)."""
        with self._read() as conn:
            return reads.timeline(conn, identity_id, since, until, limit, camera_ids)

    def search(
        self,
        vector: NDArray[np.floating],
        model_id: str,
        k: int = 20,
        camera_ids: Sequence[str] | None = None,
        since: float | None = None,
        until: float | None = None,
        ef_search: int | None = None,
        exact_max_rows: int = EXACT_MAX_ROWS,
    ) -> SearchResult:
        """Past sightings most similar to a probe embedding, best first (pgvector or a NumPy scan).

        Exact when the filters leave at most ``exact_max_rows`` sightings (always on SQLite);
        else PostgreSQL's HNSW index with beam ``ef_search`` (default ``vector_ops.search_ef(k)``).
        """
        if k < 1:
            raise ValueError("k must be at least 1")
        probe = _as_probe(vector)
        flt = SightingFilter(model_id, camera_ids, since, until)
        with self._read() as conn:
            # more than k: repeats of one view (a looping demo file) are shown once, and when
            # they fill the fetch, a wider one (up to SEARCH_FETCH_MAX) finds the k distinct views
            ef = search_ef(k) if ef_search is None else ef_search  # the beam of the k asked for
            n = min(3 * k, k + 100)
            while True:
                found = nearest_sightings(conn, probe, flt, n, ef, exact_max_rows)
                hits, repeats = _without_repeats(reads.search_hits(conn, found.hits))
                if len(hits) >= k or len(found.hits) < n or n >= SEARCH_FETCH_MAX:
                    return SearchResult(hits[:k], found.exact, repeats)
                n = min(4 * n, SEARCH_FETCH_MAX)

    def search_photo(
        self, image: NDArray[np.uint8], embedder: Embedder, k: int = 20, **filters: object
    ) -> SearchResult:
        """Embed a person photo (BGR uint8) and :meth:`search` with it."""
        emb = embedder.embed([image])
        return self.search(emb.vectors[0], emb.model_id, k, **filters)  # type: ignore[arg-type]

    def identify(
        self, vector: NDArray[np.floating], model_id: str, k: int = 5
    ) -> list[tuple[IdentityInfo, float]]:
        """The identities most similar to a probe embedding (max over their embeddings)."""
        probe = _as_probe(vector)
        with self._read() as conn:
            scores = identity_scores(conn, probe, model_id)[:k]
            infos = {i.id: i for i in reads.list_identities(conn, limit=k, ids=[s[0] for s in scores])}
        return [(infos[i], sim) for i, sim in scores if i in infos]

    def export_to_gallery(self, gallery: Gallery, model_id: str, named_only: bool = True) -> int:
        """Load identities into the live query gallery (after a restart); returns how many."""
        with self._read() as conn:
            grouped = reads.gallery_vectors(conn, model_id, named_only)
        for ident, (name, vecs, cameras) in grouped.items():
            gallery.remove(ident)
            embeddings = Embeddings(l2_normalize(np.stack(vecs)), model_id)
            gallery.add(ident, embeddings, label=name or ident, cameras=cameras)
        return len(grouped)

    # -- housekeeping ------------------------------------------------------------
    def purge(self, now: float | None = None, max_age_s: float | None = None) -> PurgeReport:
        """Delete sightings of unconfirmed identities last seen before ``now - max_age_s``."""
        age = self.settings.retention_max_age_s if max_age_s is None else max_age_s
        if age is None:
            return PurgeReport()
        return purge_expired(self._write, self.data_dir, (time.time() if now is None else now) - age)

    def sweep_files(self, min_age_s: float = 60.0) -> SweepReport:
        """Remove crop files no row refers to and temp files of interrupted writes."""
        with self._read() as conn:
            referenced = reads.referenced_crop_paths(conn)
        return sweep(self.data_dir, CROP_FOLDER, referenced, min_age_s)

    def crop_file(self, relpath: str) -> Path | None:
        """The file behind a row's crop path, if it exists inside the data directory."""
        path = safe_path(self.data_dir, relpath)
        return path if path is not None and path.is_file() else None

    def counts(self) -> dict[str, int]:
        """Rows per table (for health pages and tests)."""
        with self._read() as conn:
            return reads.counts(conn)


def _without_repeats(hits: list[SearchHit]) -> tuple[list[SearchHit], int]:
    """Hits less the ones that are a view already listed: same camera, frame and box, and the
    same similarity (the same crop, stored again when a file camera loops). Returns how many."""
    seen: set[tuple[object, ...]] = set()
    out: list[SearchHit] = []
    for h in hits:
        s = h.sighting
        key = (s.camera_id, s.crop_frame, s.crop_box, round(h.similarity, 6))
        if s.crop_box is not None and key in seen:
            continue
        seen.add(key)
        out.append(h)
    return out, len(hits) - len(out)


__all__ = ["IdentityMemory", "StorageError"]
