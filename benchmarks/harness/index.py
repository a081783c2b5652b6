"""Top-k search over many stored embeddings (past sightings), exact or approximate.

The query gallery holds a handful of people and is scanned in full (``Gallery``). Looking a
person up in everything the cameras have seen is another matter: 1M stored 512-d vectors
are 2 GB, and a full scan costs 50-150 ms per query on two cores. ``HnswIndex`` (FAISS HNSW
graph, M=32) answers in under a millisecond at 1M with recall@10 near 1 on ReID-like data,
needs no training and grows one vector at a time; it takes minutes per million to build on
two cores. ``IvfIndex`` (FAISS inverted lists) builds in seconds but, since the sightings of
one person scatter over several lists, needs a large ``nprobe`` for good recall. ``ExactIndex``
(NumPy) is the reference and the right choice below ~50k vectors. Measured: ``reidcam bench``.

All indexes use inner product on L2-normalised vectors, i.e. cosine similarity (higher is
better). ``search`` returns ids and similarities, best first, padded with id -1.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from reidcam.core.errors import DependencyError

log = logging.getLogger(__name__)

KINDS = ("exact", "ivf", "hnsw")
EXACT_BELOW = 50_000


class VectorIndex(Protocol):
    dim: int

    def add(self, vectors: NDArray[np.float32], ids: NDArray[np.int64]) -> None: ...

    def search(self, queries: NDArray[np.float32], k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """(Q, D) queries -> ((Q, k) int64 ids, (Q, k) float32 similarities), best first."""
        ...

    def __len__(self) -> int: ...


def _as_2d(vectors: NDArray[np.floating], dim: int) -> NDArray[np.float32]:
    arr = np.ascontiguousarray(np.atleast_2d(np.asarray(vectors, np.float32)))
    if arr.shape[1] != dim:
        raise ValueError(f"expected {dim}-d vectors, got {arr.shape[1]}-d")
    return arr


def _import_faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise DependencyError("approximate search needs FAISS: pip install faiss-cpu") from exc
    return faiss


class ExactIndex:
    """Full scan in NumPy, in chunks so the (Q, chunk) score block stays small."""

    def __init__(self, dim: int, chunk: int = 65536) -> None:
        self.dim = dim
        self.chunk = chunk
        self._parts: list[NDArray[np.float32]] = []
        self._id_parts: list[NDArray[np.int64]] = []
        self._vectors = np.zeros((0, dim), np.float32)
        self._ids = np.zeros((0,), np.int64)

    def add(self, vectors: NDArray[np.float32], ids: NDArray[np.int64]) -> None:
        self._parts.append(_as_2d(vectors, self.dim))
        self._id_parts.append(np.asarray(ids, np.int64).reshape(-1))

    def _consolidate(self) -> None:
        if not self._parts:
            return
        if len(self._ids) == 0 and len(self._parts) == 1:  # no copy of a single (maybe 2 GB) block
            self._vectors, self._ids = self._parts[0], self._id_parts[0]
        else:
            self._vectors = np.concatenate([self._vectors, *self._parts])
            self._ids = np.concatenate([self._ids, *self._id_parts])
        self._parts, self._id_parts = [], []

    def __len__(self) -> int:
        return len(self._ids) + sum(len(p) for p in self._id_parts)

    def search(self, queries: NDArray[np.float32], k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        self._consolidate()
        q = _as_2d(queries, self.dim)
        best_s = np.full((len(q), k), -np.inf, np.float32)
        best_i = np.full((len(q), k), -1, np.int64)
        for start in range(0, len(self._ids), self.chunk):
            scores = q @ self._vectors[start : start + self.chunk].T
            kk = min(k, scores.shape[1])
            top = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
            cand_s = np.concatenate([best_s, np.take_along_axis(scores, top, 1)], axis=1)
            cand_i = np.concatenate([best_i, self._ids[start + top]], axis=1)
            order = np.argsort(-cand_s, axis=1)[:, :k]
            best_s, best_i = np.take_along_axis(cand_s, order, 1), np.take_along_axis(cand_i, order, 1)
        best_i[~np.isfinite(best_s)] = -1
        return best_i, np.where(np.isfinite(best_s), best_s, 0.0).astype(np.float32)


class _FaissIndex:
    """Shared search/len of the FAISS-backed indexes; one search thread (the caller's)."""

    dim: int
    _index: Any
    _faiss: Any

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def search(self, queries: NDArray[np.float32], k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        sims, ids = self._index.search(_as_2d(queries, self.dim), k)
        return ids.astype(np.int64), sims.astype(np.float32)


class IvfIndex(_FaissIndex):
    """FAISS IVF-Flat: k-means lists, a query scans the ``nprobe`` nearest lists.

    Needs training (``train``, or the first ``add`` trains on what it is given): at least
    ``39 * nlist`` vectors. ``nlist`` defaults to about 1 per 1000 vectors (1024 at 1M),
    which keeps k-means to seconds; a query scans ``nprobe / nlist`` of the vectors.
    """

    def __init__(self, dim: int, nlist: int = 1024, nprobe: int = 32, train_iters: int = 10) -> None:
        self._faiss = _import_faiss()
        self.dim, self.nlist, self.train_iters = dim, nlist, train_iters
        self._quantizer = self._faiss.IndexFlatIP(dim)
        self._index = self._faiss.IndexIVFFlat(self._quantizer, dim, nlist, self._faiss.METRIC_INNER_PRODUCT)
        self._index.cp.niter = train_iters
        self.nprobe = nprobe

    @property
    def nprobe(self) -> int:
        return int(self._index.nprobe)

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self._index.nprobe = int(value)

    @staticmethod
    def nlist_for(expected_size: int) -> int:
        """About one list per 1000 vectors, a power of two, 16 to 4096."""
        return int(min(4096, max(16, 2 ** round(math.log2(max(expected_size, 1) / 1000 + 1)))))

    def train(self, sample: NDArray[np.float32], max_per_list: int = 64) -> None:
        """k-means on at most ``max_per_list * nlist`` vectors of ``sample`` (more adds time, not recall)."""
        x = _as_2d(sample, self.dim)
        limit = max_per_list * self.nlist
        if len(x) > limit:
            x = x[np.random.default_rng(0).choice(len(x), limit, replace=False)]
        self._index.train(x)

    def add(self, vectors: NDArray[np.float32], ids: NDArray[np.int64]) -> None:
        x = _as_2d(vectors, self.dim)
        if not self._index.is_trained:
            self.train(x)
        self._index.add_with_ids(x, np.asarray(ids, np.int64).reshape(-1))


class HnswIndex(_FaissIndex):
    """FAISS HNSW graph (``M`` links per node): no training, incremental adds, slow to build.

    M=32 rather than the usual 16: at 100k ReID-like vectors M=16 gave recall@10 0.94 at
    efSearch 64, M=32 1.00 at 0.6 ms, for twice the build time (30 s per 100k on 2 cores).
    """

    def __init__(self, dim: int, m: int = 32, ef_construction: int = 40, ef_search: int = 64) -> None:
        self._faiss = _import_faiss()
        self.dim = dim
        self.m, self.ef_construction = m, ef_construction
        self._hnsw = self._faiss.IndexHNSWFlat(dim, m, self._faiss.METRIC_INNER_PRODUCT)
        self._hnsw.hnsw.efConstruction = ef_construction
        self.ef_search = ef_search
        self._index = self._faiss.IndexIDMap(self._hnsw)

    @property
    def ef_search(self) -> int:
        """Candidates kept while searching: recall up, speed down (set per query load)."""
        return int(self._hnsw.hnsw.efSearch)

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        self._hnsw.hnsw.efSearch = int(value)

    def add(self, vectors: NDArray[np.float32], ids: NDArray[np.int64]) -> None:
        self._index.add_with_ids(_as_2d(vectors, self.dim), np.asarray(ids, np.int64).reshape(-1))


def set_search_threads(threads: int) -> None:
    """FAISS's OpenMP pool (used for building; a single query runs best on one thread)."""
    try:
        import faiss
    except ImportError:
        return
    faiss.omp_set_num_threads(int(threads))


def build_index(kind: str, dim: int, expected_size: int = 0) -> VectorIndex:
    """An empty index: 'exact', 'ivf', 'hnsw', or 'auto' (exact below 50k vectors, else HNSW).

    Raises:
        DependencyError: FAISS is needed and not installed.
        ValueError: unknown kind.
    """
    if kind == "auto":
        kind = "exact" if expected_size < EXACT_BELOW else "hnsw"
    if kind == "exact":
        return ExactIndex(dim)
    if kind == "ivf":
        return IvfIndex(dim, nlist=IvfIndex.nlist_for(expected_size))
    if kind == "hnsw":
        return HnswIndex(dim)
    raise ValueError(f"unknown index kind {kind!r}; known: auto, {', '.join(KINDS)}")
