"""Retention: old sightings of unconfirmed identities are deleted, with their crops.

What is kept forever: every sighting of a *confirmed* identity (one a user named, enrolled,
confirmed a sighting of, or moved a sighting into). What goes after ``max_age_s``: sightings
whose identity is unconfirmed (the passers-by the memory founded by itself) and whose last
frame is older than that, their crop files and the embeddings they taught; an unconfirmed
identity left without sightings goes too. The track crops kept for ``finetune --from-memory``
(``training/tracks/``) follow their sightings, and those older than the cutoff that no kept
sighting covers go as well (a track never recorded, a sighting deleted while a crop was being
written).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reidcam.identity import records as r
from reidcam.identity.models import PurgeReport
from reidcam.identity.track_crops import TrackSpan, remove_span_crops, sweep_track_crops
from reidcam.runtime.worker import BackgroundThread
from reidcam.storage import tables as t
from reidcam.storage.files import remove_files


class Purge(Protocol):
    """What the worker calls each pass: ``IdentityMemory.purge``, given so retention never imports memory."""

    def __call__(self, *, now: float, max_age_s: float | None) -> PurgeReport: ...


log = logging.getLogger(__name__)

PURGE_BATCH = 500


def purge_batch(
    conn: Connection, cutoff_at: float, batch: int = PURGE_BATCH
) -> tuple[int, int, list[str], list[TrackSpan]]:
    """Delete up to ``batch`` expired sightings and the identities they leave empty.

    Returns:
        (sightings deleted, identities deleted, crop paths and track spans whose crops to
        remove once committed).
    """
    s, i = t.sightings, t.identities
    unconfirmed = sa.select(i.c.id).where(i.c.confirmed_at.is_(None))
    expired = (
        sa.select(s.c.id, s.c.crop_path)
        .where(
            s.c.last_seen_at < cutoff_at, sa.or_(s.c.identity_id.is_(None), s.c.identity_id.in_(unconfirmed))
        )
        .limit(batch)
    )
    rows = conn.execute(expired).all()
    spans: list[TrackSpan] = []
    if rows:
        ids = [row[0] for row in rows]
        spans = r.track_spans(conn, s.c.id.in_(ids))
        conn.execute(sa.delete(s).where(s.c.id.in_(ids)))
    has_sightings = sa.exists().where(s.c.identity_id == i.c.id)
    gone = conn.execute(sa.delete(i).where(i.c.confirmed_at.is_(None), ~has_sightings)).rowcount
    return len(rows), int(gone or 0), [row[1] for row in rows if row[1]], spans


def purge_expired(
    write: Callable[[], AbstractContextManager[Connection]], data_dir: Path, cutoff_at: float
) -> PurgeReport:
    """Purge in batches, one transaction each; crop files go once their rows are gone."""
    n_s = n_i = n_f = 0
    errors: list[str] = []
    while True:
        with write() as conn:
            got_s, got_i, paths, spans = purge_batch(conn, cutoff_at, PURGE_BATCH)
        removed, errs = remove_files(data_dir, paths)
        removed_t, errs_t = remove_span_crops(data_dir, spans)
        n_s, n_i, n_f = n_s + got_s, n_i + got_i, n_f + removed + removed_t
        errors += errs + errs_t
        if got_s < PURGE_BATCH:
            break

    def kept_spans(track_id: int) -> list[TrackSpan]:
        with write() as conn:
            return r.track_spans(conn, t.sightings.c.track_id == track_id)

    removed, errs = sweep_track_crops(data_dir, cutoff_at, kept_spans)
    return PurgeReport(n_s, n_i, n_f + removed, cutoff_at, errors + errs)


class RetentionWorker:
    """Calls ``purge`` every ``interval_s`` on a daemon thread (the web app starts it).

    Args:
        purge: the purge pass, ``IdentityMemory.purge`` (keyword args ``now``, ``max_age_s``).
        interval_s: pause between passes.
        max_age_s: override of the memory's ``retention_max_age_s``.
        clock: epoch-seconds clock (a test can move time forward).
    """

    def __init__(
        self,
        purge: Purge,
        interval_s: float = 3600.0,
        max_age_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._purge = purge
        self.interval_s = interval_s
        self.max_age_s = max_age_s
        self.clock = clock
        self.last_report: PurgeReport | None = None
        self.passes = 0
        self._stop = threading.Event()
        self._background = BackgroundThread("reidcam-retention", self._loop, self._stop)

    def start(self) -> None:
        self._background.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._background.stop(timeout_s)

    def run_once(self) -> PurgeReport:
        report = self._purge(now=self.clock(), max_age_s=self.max_age_s)
        self.last_report = report
        self.passes += 1
        if report.sightings or report.identities:
            log.info(
                "retention: purged %d sightings, %d identities, %d files",
                report.sightings,
                report.identities,
                report.files,
            )
        return report

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("retention pass failed; retrying in %.0f s", self.interval_s)
            self._stop.wait(self.interval_s)
