"""Our CMC/mAP against torchreid's ``evaluate_rank`` (the oracle) on random and edge-case matrices.

The oracle is torchreid 0.2.5's own ``reid/metrics/rank.py``, loaded from the installed
package by file path: ``import torchreid`` pulls in its whole training stack (gdown,
tensorboard), which the metric does not need.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from reidcam.eval.reid_metrics import evaluate_rank

_CY = "torchreid.reid.metrics.rank_cylib.rank_cy"


@pytest.fixture(scope="module")
def oracle() -> ModuleType:
    spec = importlib.util.find_spec("torchreid")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("torchreid is not installed: pip install torchreid==0.2.5 scipy (the test oracle)")
    path = Path(next(iter(spec.submodule_search_locations))) / "reid" / "metrics" / "rank.py"
    mod_spec = importlib.util.spec_from_file_location("_torchreid_rank_oracle", path)
    assert mod_spec is not None and mod_spec.loader is not None
    module = importlib.util.module_from_spec(mod_spec)
    saved = sys.modules.get(_CY, ...)
    sys.modules[_CY] = None  # type: ignore[assignment]  # "not importable": skip the Cython path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mod_spec.loader.exec_module(module)
    finally:
        if saved is ...:
            del sys.modules[_CY]
        else:
            sys.modules[_CY] = saved
    return module


def _oracle_scores(oracle, dist, qp, gp, qc, gc, max_rank):
    cmc, mAP = oracle.evaluate_rank(dist, qp, gp, qc, gc, max_rank=max_rank, use_cython=False)
    return np.asarray(cmc, np.float64), float(mAP)


def _agree(oracle, dist, qp, gp, qc, gc, max_rank=10):
    cmc, mAP = _oracle_scores(oracle, dist, qp, gp, qc, gc, max_rank)
    ours = evaluate_rank(dist, qp, gp, qc, gc, max_rank=max_rank)
    np.testing.assert_allclose(ours.cmc, cmc, atol=1e-6)
    assert ours.mAP == pytest.approx(mAP, abs=1e-9)
    return ours


def _random_case(rng, nq, ng, n_ids, n_cams):
    """Queries whose pid always has a gallery image on another camera (so torchreid's CMC is not ragged)."""
    qp = rng.integers(1, n_ids + 1, nq)
    qc = rng.integers(1, n_cams + 1, nq)
    gp = rng.integers(0, n_ids + 1, ng)
    gc = rng.integers(1, n_cams + 1, ng)
    gp[:nq] = qp  # a guaranteed cross-camera match for every query
    gc[:nq] = (qc % n_cams) + 1
    return rng.random((nq, ng)), qp, gp, qc, gc


@pytest.mark.parametrize("seed", range(8))
def test_random_matrices_agree(oracle, seed):
    rng = np.random.default_rng(seed)
    dist, qp, gp, qc, gc = _random_case(rng, nq=int(rng.integers(5, 60)), ng=200, n_ids=30, n_cams=6)
    _agree(oracle, dist, qp, gp, qc, gc, max_rank=20)


def test_larger_than_one_block_agrees(oracle):
    rng = np.random.default_rng(42)
    dist, qp, gp, qc, gc = _random_case(rng, nq=300, ng=400, n_ids=80, n_cams=6)
    _agree(oracle, dist, qp, gp, qc, gc, max_rank=50)


@pytest.mark.parametrize("seed", range(4))
def test_ties_agree(oracle, seed):
    """Distances on a coarse grid: many exact ties, between true and false matches too."""
    rng = np.random.default_rng(100 + seed)
    dist, qp, gp, qc, gc = _random_case(rng, nq=40, ng=300, n_ids=20, n_cams=3)
    dist = np.round(dist * 4) / 4
    _agree(oracle, dist, qp, gp, qc, gc, max_rank=10)


def test_all_equal_distances_agree(oracle):
    rng = np.random.default_rng(7)
    _, qp, gp, qc, gc = _random_case(rng, nq=10, ng=50, n_ids=5, n_cams=2)
    _agree(oracle, np.zeros((10, 50)), qp, gp, qc, gc, max_rank=5)


def test_query_without_valid_match_is_skipped(oracle):
    """Query 1's pid is only in the gallery from its own camera: skipped, like torchreid."""
    dist = np.array([[0.1, 0.5, 0.9, 0.3], [0.2, 0.4, 0.6, 0.8], [0.7, 0.1, 0.2, 0.3]])
    qp, qc = np.array([1, 2, 3]), np.array([1, 1, 2])
    gp, gc = np.array([1, 2, 3, 1]), np.array([2, 1, 1, 3])
    ours = _agree(oracle, dist, qp, gp, qc, gc, max_rank=3)
    assert (ours.num_valid, ours.num_skipped) == (2, 1)
    assert ours.ap.shape == (2,)


def test_query_pid_absent_from_gallery_is_skipped(oracle):
    dist = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]])
    qp, qc, gp, gc = np.array([1, 9]), np.array([1, 1]), np.array([0, 1, 2]), np.array([2, 2, 2])
    ours = _agree(oracle, dist, qp, gp, qc, gc, max_rank=3)
    assert ours.num_skipped == 1
    assert ours.rank(1) == 0.0 and ours.rank(2) == 1.0 and ours.mAP == pytest.approx(0.5)


def test_no_valid_query_raises(oracle):
    dist = np.array([[0.1, 0.2]])
    qp, qc, gp, gc = np.array([1]), np.array([1]), np.array([1, 2]), np.array([1, 2])
    with pytest.raises(AssertionError):
        _oracle_scores(oracle, dist, qp, gp, qc, gc, 2)
    with pytest.raises(ValueError, match="no query has a valid gallery match"):
        evaluate_rank(dist, qp, gp, qc, gc)


def test_junk_is_removed_like_torchreid_loaders(oracle):
    """pid -1 gallery entries are dropped from the ranking: same as torchreid on the matrix without them."""
    rng = np.random.default_rng(3)
    dist, qp, gp, qc, gc = _random_case(rng, nq=30, ng=150, n_ids=15, n_cams=4)
    junk = rng.random(150) < 0.2
    junk[:30] = False  # keep the guaranteed matches
    gp = gp.copy()
    gp[junk] = -1
    dist[:, junk] = 0.0  # junk ranked first everywhere: must not count as a miss
    cmc, mAP = _oracle_scores(oracle, dist[:, ~junk], qp, gp[~junk], qc, gc[~junk], 10)
    ours = evaluate_rank(dist, qp, gp, qc, gc, max_rank=10)
    np.testing.assert_allclose(ours.cmc, cmc, atol=1e-6)
    assert ours.mAP == pytest.approx(mAP, abs=1e-9)
    kept_junk = evaluate_rank(dist, qp, gp, qc, gc, max_rank=10, ignore_junk=False)
    assert kept_junk.rank(1) == 0.0  # junk kept as ordinary entries pushes every true match down


def test_distractors_stay_in_the_gallery(oracle):
    dist = np.array([[0.1, 0.2, 0.3]])
    qp, qc, gp, gc = np.array([5]), np.array([1]), np.array([0, 0, 5]), np.array([2, 3, 2])
    ours = _agree(oracle, dist, qp, gp, qc, gc, max_rank=3)
    assert ours.rank(1) == 0.0 and ours.rank(3) == 1.0 and ours.mAP == pytest.approx(1 / 3)


def test_known_answer():
    """Two true matches at ranks 2 and 4 after removing the same-camera copy at rank 1."""
    dist = np.array([[0.0, 0.1, 0.2, 0.3, 0.4]])
    gp, gc = np.array([7, 3, 7, 4, 7]), np.array([1, 2, 2, 2, 3])
    r = evaluate_rank(dist, [7], gp, [1], gc, max_rank=5)
    # kept ranking: 3, 7, 4, 7 -> first hit at rank 2; AP = (1/2 + 2/4) / 2
    assert r.cmc.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0]
    assert r.mAP == pytest.approx(0.5)


def test_short_ranking_pads_cmc_where_torchreid_fails(oracle):
    """Query 0 keeps 2 of 3 gallery entries (one is its own camera): torchreid's CMC rows get ragged."""
    dist = np.array([[0.1, 0.2, 0.3], [0.1, 0.2, 0.3]])
    args = (dist, np.array([1, 2]), np.array([1, 1, 2]), np.array([1, 2]), np.array([2, 1, 1]))
    with pytest.raises(ValueError):
        _oracle_scores(oracle, *args, 3)
    r = evaluate_rank(*args, max_rank=3)
    assert r.cmc.tolist() == [0.5, 0.5, 1.0]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((np.zeros(3), [1], [1, 2, 3], [1], [1, 1, 1]), "num_query, num_gallery"),
        ((np.zeros((1, 3)), [1], [1, 2], [1], [1, 1, 1]), "g_pids must have 3"),
        ((np.full((1, 2), np.nan), [1], [1, 2], [1], [2, 2]), "NaN"),
        ((np.zeros((0, 2)), [], [1, 2], [], [2, 2]), "nothing to evaluate"),
    ],
)
def test_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        evaluate_rank(*args)
