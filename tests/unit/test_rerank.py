"""Re-ranking functions (measured in docs/accuracy.md; not used by the search paths)."""

import numpy as np

from reidcam.core.types import l2_normalize
from reidcam.match.rerank import k_reciprocal_rerank, query_expansion


def _clusters(seed: int = 0, per: int = 4, spread: float = 0.35):
    rng = np.random.default_rng(seed)
    centres = l2_normalize(rng.normal(size=(5, 32)))
    gallery = l2_normalize(np.repeat(centres, per, axis=0) + spread * rng.normal(size=(5 * per, 32)))
    probes = l2_normalize(centres + spread * rng.normal(size=(5, 32)))
    return probes, gallery, np.repeat(np.arange(5), per)


def test_query_expansion_pulls_the_probe_towards_its_cluster():
    probes, gallery, ids = _clusters()
    plain = probes @ gallery.T
    qe = query_expansion(probes, gallery, k=3)
    assert qe.shape == plain.shape and qe.dtype == np.float32
    own = ids[None, :] == np.arange(5)[:, None]
    # the mean similarity to the probe's own cluster rises, to the others it does not
    assert (qe[own].mean() - plain[own].mean()) > 0.02
    assert qe[~own].mean() <= plain[~own].mean() + 0.02


def test_query_expansion_k0_is_plain_cosine():
    probes, gallery, _ = _clusters(1)
    np.testing.assert_allclose(query_expansion(probes, gallery, k=0), probes @ gallery.T, atol=1e-6)


def test_k_reciprocal_ranks_each_probe_cluster_first():
    probes, gallery, ids = _clusters(2, spread=0.2)
    dist = k_reciprocal_rerank(probes, gallery, k1=4, k2=2)
    assert dist.shape == (5, 20) and np.all(np.isfinite(dist))
    assert np.all(ids[np.argmin(dist, axis=1)] == np.arange(5))
