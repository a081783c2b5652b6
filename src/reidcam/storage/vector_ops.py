"""Nearest-neighbour queries over stored embeddings: pgvector on PostgreSQL, NumPy elsewhere.

On PostgreSQL the ``vector`` columns have no fixed dimension, so each dimension gets a partial
HNSW index on ``(col::vector(D)) vector_cosine_ops WHERE dim = D`` and every query repeats that
exact expression and predicate (the planner only uses a partial index whose predicate the query
implies). On SQLite the rows are filtered in SQL first, then scanned in chunks with one matrix
product per chunk, keeping memory flat as history grows.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.engine import Connection

from reidcam.storage import tables as t

log = logging.getLogger(__name__)

SCAN_CHUNK_ROWS = 4096
DEFAULT_EF_SEARCH = 40  # pgvector's hnsw.ef_search default
MAX_EF_SEARCH = 1000  # pgvector's upper bound for hnsw.ef_search
EF_PER_HIT = 20  # chosen by measurement, see search_ef
#: A PostgreSQL search whose filters (model, cameras, time window) leave at most this many
#: sightings reads them all: exact. More go through the HNSW index: fast, approximate (at 1M
#: synthetic sightings it found 64 % of the true top 10; docs/scale-out.md). An exact pass over
#: 100k rows took about 90 ms on a loaded 2-core machine.
EXACT_MAX_ROWS = 50_000
_ANN_TABLES = (("sightings", "prototype"), ("identity_embeddings", "vector"))
_indexed_dims: set[tuple[str, int]] = set()
_iterative_scan: dict[str, bool] = {}


@dataclass(frozen=True)
class SightingFilter:
    """Which sightings a search looks at; a sighting matches the time window if it overlaps it."""

    model_id: str
    camera_ids: Sequence[str] | None = None
    since: float | None = None
    until: float | None = None
    identity_id: str | None = None


def _is_pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def pg_vector_literal(vector: NDArray[np.float32]) -> str:
    """``vector`` as pgvector's text input, for the ``q`` parameter of the expressions here."""
    return "[" + ",".join(f"{float(x):.7g}" for x in vector) + "]"


def _pg_distance(column: sa.ColumnElement[object], dim: int) -> sa.ColumnElement[float]:
    from pgvector.sqlalchemy import VECTOR

    q = sa.bindparam("q", type_=sa.String)
    return sa.cast(column, VECTOR(dim)).op("<=>", return_type=sa.Float)(sa.cast(q, VECTOR(dim)))


def inner_product(column: sa.ColumnElement[Any], dim: int) -> sa.ColumnElement[float]:
    """``column · q`` computed by pgvector (``q``: a bound ``pg_vector_literal``); PostgreSQL only."""
    from pgvector.sqlalchemy import VECTOR

    q = sa.bindparam("q", type_=sa.String)
    return -sa.cast(column, VECTOR(dim)).op("<#>", return_type=sa.Float)(sa.cast(q, VECTOR(dim)))


def _dim_predicate(table: sa.Table, dim: int) -> sa.ColumnElement[bool]:
    # Rendered inline, so the partial index ``WHERE dim = D`` is provably usable.
    return table.c.dim == sa.literal_column(str(int(dim)))


def ensure_ann_index(conn: Connection, dim: int) -> None:
    """Create the HNSW indexes for ``dim``-sized vectors once per process (PostgreSQL only)."""
    if not _is_pg(conn):
        return
    url = str(conn.engine.url)
    if (url, dim) in _indexed_dims:
        return
    for table, column in _ANN_TABLES:
        conn.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS ix_{table}_{column}_hnsw_{int(dim)} ON {table} "
            f"USING hnsw (({column}::vector({int(dim)})) vector_cosine_ops) WHERE dim = {int(dim)}"
        )
    _indexed_dims.add((url, dim))


def search_ef(k: int) -> int:
    """``hnsw.ef_search`` for a top-``k`` search of sightings: ``EF_PER_HIT`` candidates per hit.

    pgvector's default (40) is fixed whatever ``k``; on 1M sightings it found a third of the true
    top 10 (docs/scale-out.md, "Identity memory on PostgreSQL at scale"), so a search asks for a
    wider beam, capped at pgvector's maximum.
    """
    return max(DEFAULT_EF_SEARCH, min(MAX_EF_SEARCH, EF_PER_HIT * int(k)))


def _pg_search_settings(conn: Connection, ef_search: int | None = None) -> None:
    """For this transaction: iterative scans (pgvector >= 0.8 keeps walking the HNSW graph until
    enough rows pass the filters) and, if given, the beam width; one round trip."""
    url = str(conn.engine.url)
    if url not in _iterative_scan:
        version = conn.exec_driver_sql(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        ).scalar()
        _iterative_scan[url] = bool(version) and tuple(int(p) for p in str(version).split(".")[:2]) >= (0, 8)
    calls = []
    if _iterative_scan[url]:
        calls.append("set_config('hnsw.iterative_scan', 'strict_order', true)")
    if ef_search is not None:
        calls.append(f"set_config('hnsw.ef_search', '{int(ef_search)}', true)")
    if calls:
        conn.exec_driver_sql("SELECT " + ", ".join(calls))


def _sighting_where(f: SightingFilter, dim: int) -> list[sa.ColumnElement[bool]]:
    s = t.sightings
    where = [s.c.model_id == f.model_id, _dim_predicate(s, dim)]
    if f.camera_ids is not None:
        where.append(s.c.camera_id.in_(list(f.camera_ids)))
    if f.since is not None:
        where.append(s.c.last_seen_at >= f.since)
    if f.until is not None:
        where.append(s.c.first_seen_at <= f.until)
    if f.identity_id is not None:
        where.append(s.c.identity_id == f.identity_id)
    return where


@dataclass(frozen=True)
class Nearest:
    """A search's (sighting_id, similarity) pairs, best first; ``exact``: every candidate was
    compared (False: the HNSW index answered, and may have missed some of the true best)."""

    hits: list[tuple[str, float]]
    exact: bool


def nearest_sightings(
    conn: Connection,
    vector: NDArray[np.float32],
    f: SightingFilter,
    k: int,
    ef_search: int | None = None,
    exact_max_rows: int = EXACT_MAX_ROWS,
) -> Nearest:
    """The ``k`` sightings whose prototype is most similar to ``vector``.

    On PostgreSQL an exact scan when the filters leave at most ``exact_max_rows`` sightings, else
    the HNSW index with beam ``ef_search`` (default ``search_ef(k)``); SQLite always scans exactly.
    """
    q = np.asarray(vector, np.float32).reshape(-1)
    where = _sighting_where(f, len(q))
    if _is_pg(conn):
        exact = _candidates(conn, where, exact_max_rows) <= exact_max_rows
        if exact:  # no index scan: a (parallel) sequential or bitmap scan, then sort
            conn.exec_driver_sql("SELECT set_config('enable_indexscan', 'off', true)")
        else:
            _pg_search_settings(conn, search_ef(k) if ef_search is None else ef_search)
        dist = _pg_distance(t.sightings.c.prototype, len(q))
        stmt = sa.select(t.sightings.c.id, dist).where(*where).order_by(dist).limit(k)
        rows = conn.execute(stmt, {"q": pg_vector_literal(q)}).all()
        if exact:
            conn.exec_driver_sql("SELECT set_config('enable_indexscan', 'on', true)")
        return Nearest([(str(r[0]), 1.0 - float(r[1])) for r in rows], exact)
    stmt = sa.select(t.sightings.c.id, _raw(t.sightings.c.prototype)).where(*where)
    return Nearest(_numpy_top_k(_scan(conn, stmt, len(q)), q, k), exact=True)


def _candidates(conn: Connection, where: list[sa.ColumnElement[bool]], at_most: int) -> int:
    """How many sightings pass ``where``, counted up to ``at_most + 1`` (a bounded read)."""
    inner = sa.select(sa.literal(1)).select_from(t.sightings).where(*where).limit(at_most + 1).subquery()
    return int(conn.execute(sa.select(sa.func.count()).select_from(inner)).scalar_one())


def _raw(column: sa.ColumnElement[Any]) -> sa.ColumnElement[bytes]:
    """The float32 bytes as stored, skipping the per-row conversion of VectorType."""
    return sa.type_coerce(column, sa.LargeBinary())


def _scan(conn: Connection, stmt: sa.Select[Any], dim: int) -> Iterator[tuple[list[str], np.ndarray]]:
    """(ids, (n, dim) float32 matrix) per chunk of rows of (id, raw vector bytes)."""
    result = conn.execute(stmt, execution_options={"yield_per": SCAN_CHUNK_ROWS})
    for part in result.partitions():
        ids = [str(r[0]) for r in part]
        blob = b"".join(bytes(r[1]) for r in part)
        yield ids, np.frombuffer(blob, np.float32).reshape(len(part), dim)


def _numpy_top_k(
    chunks: Iterator[tuple[list[str], np.ndarray]], q: NDArray[np.float32], k: int
) -> list[tuple[str, float]]:
    best_ids: list[str] = []
    best_sims = np.zeros((0,), np.float32)
    for ids, mat in chunks:
        sims = np.concatenate([best_sims, mat @ q])
        all_ids = best_ids + ids
        top = np.argpartition(-sims, k - 1)[:k] if len(sims) > k else np.arange(len(sims))
        keep = top[np.argsort(-sims[top], kind="stable")]
        best_ids, best_sims = [all_ids[i] for i in keep], sims[keep]
    return [(i, float(s)) for i, s in zip(best_ids, best_sims, strict=True)]


def _best_per_identity(ids: list[str], sims: NDArray[np.float32]) -> list[tuple[str, float]]:
    if not ids:
        return []
    uniq, inverse = np.unique(np.asarray(ids), return_inverse=True)
    best = np.full(len(uniq), -2.0, np.float32)
    np.maximum.at(best, inverse, sims)
    order = np.argsort(-best, kind="stable")
    return [(str(uniq[i]), float(best[i])) for i in order]


def identity_scores(
    conn: Connection,
    vector: NDArray[np.float32],
    model_id: str,
    exclude: Collection[str] = (),
    k_rows: int = 80,
) -> list[tuple[str, float]]:
    """Similarity of ``vector`` to each identity (max over its embeddings), best first.

    On PostgreSQL only the ``k_rows`` nearest embeddings are looked at: enough for the best
    identity and its runner-up while identities hold at most a few dozen embeddings each.
    """
    q = np.asarray(vector, np.float32).reshape(-1)
    e = t.identity_embeddings
    where = [e.c.model_id == model_id, _dim_predicate(e, len(q))]
    if exclude:
        where.append(e.c.identity_id.not_in(list(exclude)))
    if _is_pg(conn):
        _pg_search_settings(conn)
        dist = _pg_distance(e.c.vector, len(q))
        stmt = sa.select(e.c.identity_id, dist).where(*where).order_by(dist).limit(k_rows)
        rows = conn.execute(stmt, {"q": pg_vector_literal(q)}).all()
        ids = [str(r[0]) for r in rows]
        return _best_per_identity(ids, 1.0 - np.array([float(r[1]) for r in rows], np.float32))
    stmt = sa.select(e.c.identity_id, _raw(e.c.vector)).where(*where)
    chunks = list(_scan(conn, stmt, len(q)))
    ids = [i for chunk_ids, _ in chunks for i in chunk_ids]
    sims = np.concatenate([mat @ q for _, mat in chunks]) if chunks else np.zeros((0,), np.float32)
    return _best_per_identity(ids, sims)
