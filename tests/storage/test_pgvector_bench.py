"""benchmarks/pgvector_search.py: its recall@10 is right, on a tiny table in the real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pgvector_search import Options, exact_top_k, measure_size, recall_at_k, same_person, table


def test_recall_counts_the_exact_top_k_found() -> None:
    truth = [["a", "b", "c", "d"], ["e", "f", "g", "h"]]
    found = [["d", "c", "b", "a"], ["e", "x", "y"]]  # order does not matter; a short answer misses
    assert recall_at_k(found, truth) == pytest.approx((1.0 + 0.25) / 2)
    with pytest.raises(ValueError, match="1 results for 2 queries"):
        recall_at_k(found[:1], truth)


def test_same_person_scores_only_the_query_s_own_person() -> None:
    person = {"a1": 1, "a2": 1, "a3": 1, "b1": 2, "c1": 3}
    truth = [["a1", "a2", "b1"], ["c1", "a1", "b1"]]  # query 0 is person 1, query 1 person 3
    found = [["a1", "b1", "c1"], ["c1", "a3", "b1"]]
    out = same_person(found, truth, [1, 3], person)
    assert out["same_person_at_10"] == pytest.approx(2 / 6, abs=1e-4)  # a1 for query 0, c1 for query 1
    assert out["same_person_recall"] == pytest.approx(2 / 3, abs=1e-4)  # a1 and c1 of a1, a2, c1


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
    assert exact["same_person_recall"] == 1.0 and exact["same_person_at_10"] > 0.5
    assert by_mode["hnsw ef_search=400"]["recall_at_10"] == 1.0  # ef above the row count: exhaustive
    assert by_mode["product index path (ef_search 200)"]["recall_at_10"] >= 0.95
    product_exact = by_mode["product exact path (count, then every row compared)"]
    assert product_exact["recall_at_10"] == 1.0 and product_exact["index_scans"] == 0
    assert all(s["ms"]["n"] == 20 for s in report["searches"])
    assert 5 <= report["product_writes"]["statements_per_write"] <= 12
    lines = table({"sizes": [report]})
    assert len(lines) == 2 + 4 and "| 310 | exact (index scans off) |" in lines[-2]
    assert "| 310 | product exact path (count, then every row compared) |" in lines[-1]
