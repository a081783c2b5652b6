"""Gallery search: exact top-k is right, the FAISS indexes find (nearly) the same neighbours."""

from __future__ import annotations

import numpy as np
import pytest

from harness.index import ExactIndex, HnswIndex, IvfIndex, build_index
from harness.index_bench import SyntheticGallery


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_exact_top_k_matches_a_full_sort_across_chunks() -> None:
    rng = np.random.default_rng(1)
    data = _unit(rng.standard_normal((1000, 32)))
    index = ExactIndex(32, chunk=128)
    index.add(data[:600], np.arange(600) + 1000)
    index.add(data[600:], np.arange(600, 1000) + 1000)
    queries = _unit(rng.standard_normal((5, 32)))
    ids, sims = index.search(queries, 7)
    truth = np.argsort(-(queries @ data.T), axis=1)[:, :7] + 1000
    assert np.array_equal(ids, truth)
    assert np.all(np.diff(sims, axis=1) <= 1e-6), "best first"
    assert len(index) == 1000


def test_exact_pads_with_minus_one_when_fewer_than_k() -> None:
    index = ExactIndex(4)
    index.add(np.eye(4, dtype=np.float32)[:2], np.array([5, 6]))
    ids, sims = index.search(np.eye(4, dtype=np.float32)[:1], 4)
    assert ids.tolist() == [[5, 6, -1, -1]] and sims[0, 0] == pytest.approx(1.0)
    empty = ExactIndex(4)
    assert empty.search(np.eye(4, dtype=np.float32)[:1], 2)[0].tolist() == [[-1, -1]]


def test_wrong_dimension_is_refused() -> None:
    with pytest.raises(ValueError, match="8-d"):
        ExactIndex(4).add(np.zeros((2, 8), np.float32), np.arange(2))


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_indexes_find_the_exact_neighbours(kind: str) -> None:
    pytest.importorskip("faiss")
    gallery = SyntheticGallery(4000, seed=3)
    exact = ExactIndex(512)
    exact.add(gallery.vectors, np.arange(4000))
    index = IvfIndex(512, nlist=16, nprobe=4) if kind == "ivf" else HnswIndex(512)
    index.add(gallery.vectors, np.arange(4000))
    queries, _ = gallery.queries(4000, 20)
    found, truth = index.search(queries, 10)[0], exact.search(queries, 10)[0]
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found.tolist(), truth.tolist(), strict=True)])
    assert recall >= 0.9
    assert len(index) == 4000


def test_build_index_picks_exact_for_small_galleries() -> None:
    assert isinstance(build_index("auto", 16, 1000), ExactIndex)
    with pytest.raises(ValueError, match="unknown index kind"):
        build_index("lsh", 16)
    assert IvfIndex.nlist_for(1_000_000) == 1024 and IvfIndex.nlist_for(10) == 16
