"""benchmarks/pgvector_search.py: its recall@10 is right, on a tiny table in the real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pgvector_search import Options, exact_top_k, measure_size, recall_at_k, table


def test_recall_counts_the_exact_top_k_found() -> None:
    truth = [["a", "b", "c", "d"], ["e", "f", "g", "h"]]
    found = [["d", "c", "b", "a"], ["e", "x", "y"]]  # order does not matter; a short answer misses
    assert recall_at_k(found, truth) == pytest.approx((1.0 + 0.25) / 2)
    with pytest.raises(ValueError, match="1 results for 2 queries"):
        recall_at_k(found[:1], truth)


def test_exact_top_k_is_numpy_sort_order() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((500, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[:70] + 0.1 * rng.standard_normal((70, 16)).astype(np.float32)
    expected = np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(exact_top_k(vectors, queries), expected)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_tiny_run_on_postgres_exact_search_has_recall_one(db_url: str, tmp_path: Path) -> None:
    opts = Options(rows=(300,), dim=32, queries=20, exact_queries=20, ef_search=(400,), writes=10, batch=100)
    report = measure_size(db_url, 300, opts, tmp_path / "data")

    assert report["rows"] == 310 and report["dim"] == 32
    assert report["product_writes"]["ms"]["n"] == 10
    assert report["size_mb"]["sightings_table"] > 0
    by_mode = {s["mode"]: s for s in report["searches"]}
    exact = by_mode["exact (index scans off)"]
    assert exact["recall_at_10"] == 1.0
    assert exact["index_scans"] == 0  # the exact pass really did not use the HNSW index
    assert by_mode["hnsw ef_search=400"]["recall_at_10"] == 1.0  # ef above the row count: exhaustive
    assert all(s["ms"]["n"] == 20 for s in report["searches"])
    lines = table({"sizes": [report]})
    assert len(lines) == 2 + 2 and "| 310 | exact (index scans off) |" in lines[-1]
