"""What one ``IdentityMemory.record_sighting`` costs on PostgreSQL: SQL statements (round trips),
by kind, and milliseconds, on an embedded PostgreSQL with pgvector.

Writes ``--rows`` synthetic sightings of ``--rows / 10`` people (the vectors of
``pgvector_search.py``) through the product, then counts the statements the last ``--measure``
of them issue. Uses only ``record_sighting``, so it runs unchanged on older trees (the
before/after of docs/scale-out.md)::

    PYTHONPATH=src:benchmarks python benchmarks/record_statements.py --rows 2000 --measure 300
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sqlalchemy import event

from pgvector_search import CAMERAS, People, embedded_server, fresh_database, latency_ms
from reidcam.core.types import Sighting, SightingKey
from reidcam.identity import IdentityMemory, IdentitySettings


def _kind(statement: str) -> str:
    words = statement.split()
    head = " ".join(words[:3]).upper()
    if head.startswith("SELECT"):
        table = next((w for i, w in enumerate(words) if words[i - 1].upper() == "FROM"), "?")
        return f"SELECT {table}"
    return head


def measure(rows: int, n_measure: int, dim: int, seed: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="reidcam-stmts-") as tmp:
        root = Path(tmp)
        with embedded_server(root) as srv:
            url = fresh_database(srv, "stmts")
            memory = IdentityMemory.open(
                root / "data", url=url, settings=IdentitySettings(threshold=0.5), sweep_min_age_s=None
            )
            try:
                return _writes(memory, rows, n_measure, dim, seed)
            finally:
                memory.close()


def _writes(memory: IdentityMemory, rows: int, n_measure: int, dim: int, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    people = People.make(max(1, rows // 10), dim, rng)
    vecs = people.sightings(rng.integers(0, len(people.centres), rows))
    kinds: Counter[str] = Counter()

    def count(_conn: object, _cur: object, statement: str, *_: object) -> None:
        kinds[_kind(statement)] += 1

    times = []
    for i, v in enumerate(vecs):
        if i == rows - n_measure:
            event.listen(memory.engine, "before_cursor_execute", count)
        now = time.time()
        s = Sighting(SightingKey(f"cam{i % CAMERAS}", i, 0), now - 4.0, now, 5, v, "bench-model")
        t0 = time.perf_counter()
        memory.record_sighting(s, now)
        if i >= rows - n_measure:
            times.append((time.perf_counter() - t0) * 1000.0)
    return {
        "rows": rows,
        "measured": n_measure,
        "statements_per_write": round(sum(kinds.values()) / n_measure, 2),
        "by_kind_per_write": {k: round(c / n_measure, 2) for k, c in kinds.most_common()},
        "ms": latency_ms(times),
    }


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=2000, help="sightings written in all")
    p.add_argument("--measure", type=int, default=300, help="the last this many are counted")
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    if not 0 < a.measure <= a.rows:
        p.error("--measure must be between 1 and --rows")
    report = measure(a.rows, a.measure, a.dim, a.seed)
    text = json.dumps(report, indent=2)
    print(text)
    if a.json is not None:
        a.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
