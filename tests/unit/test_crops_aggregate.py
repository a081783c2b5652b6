"""robust_mean: the prototype of a sighting is not dragged by a few wrong crops."""

from __future__ import annotations

import numpy as np
import pytest

from reidcam.core.types import l2_normalize
from reidcam.reid.aggregate import robust_mean


def _around(center: np.ndarray, n: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    return l2_normalize(center[None, :] + noise * rng.standard_normal((n, center.size)))


def test_outliers_are_dropped() -> None:
    rng = np.random.default_rng(0)
    person, other = l2_normalize(rng.standard_normal((2, 128)))
    good = _around(person, 10, 0.05, rng)
    bad = _around(other, 3, 0.05, rng)
    robust = robust_mean(np.concatenate([good, bad]))
    plain = l2_normalize(np.concatenate([good, bad]).mean(axis=0))
    clean = l2_normalize(good.mean(axis=0))
    assert float(robust @ clean) > 0.999
    assert float(plain @ clean) < 0.97


def test_clean_set_keeps_everything() -> None:
    rng = np.random.default_rng(1)
    v = _around(l2_normalize(rng.standard_normal(64)), 8, 0.2, rng)
    np.testing.assert_allclose(robust_mean(v), l2_normalize(v.mean(axis=0)), atol=1e-6)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_small_sets_and_unit_norm(n: int) -> None:
    rng = np.random.default_rng(n)
    v = rng.standard_normal((n, 16)) * 5  # any scale: normalised inside
    out = robust_mean(v)
    assert out.shape == (16,) and out.dtype == np.float32
    assert float(np.linalg.norm(out)) == pytest.approx(1.0, abs=1e-5)
    if n == 1:
        np.testing.assert_allclose(out, l2_normalize(v[0]), atol=1e-6)


def test_identical_vectors() -> None:
    v = np.tile(l2_normalize(np.arange(1, 9, dtype=np.float32)), (5, 1))
    np.testing.assert_allclose(robust_mean(v), v[0], atol=1e-6)


@pytest.mark.parametrize("bad", [np.zeros((0, 4)), np.zeros(4), np.array([[np.nan, 1.0]])])
def test_bad_input(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        robust_mean(bad)
