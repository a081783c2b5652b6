import numpy as np
import pytest

from reidcam.core import Embeddings, Verdict, l2_normalize
from reidcam.match import Gallery, Matcher, MatcherSettings, cosine_distance, cosine_similarity

DIM = 16


def _unit(seed: int) -> np.ndarray:
    return l2_normalize(np.random.default_rng(seed).normal(size=(DIM,)))


def _near(v: np.ndarray, cos: float, seed: int = 99) -> np.ndarray:
    """A unit vector with exactly cosine ``cos`` to unit vector ``v``."""
    r = np.random.default_rng(seed).normal(size=v.shape).astype(np.float32)
    r -= (r @ v) * v
    r /= np.linalg.norm(r)
    return (cos * v + np.sqrt(1 - cos**2) * r).astype(np.float32)


def _gallery(**people: list[np.ndarray]) -> Gallery:
    g = Gallery()
    for name, vecs in people.items():
        g.add(name, Embeddings(np.stack(vecs), "m"))
    return g


def test_cosine_similarity_and_distance():
    a = _unit(1)
    assert cosine_similarity(a, a)[0, 0] == pytest.approx(1.0, abs=1e-6)
    assert cosine_distance(a, _near(a, 0.3))[0, 0] == pytest.approx(0.7, abs=1e-5)
    with pytest.raises(ValueError, match="dims"):
        cosine_similarity(np.ones(3), np.ones(4))


def test_match_above_threshold_with_margin():
    alice, bob = _unit(1), _unit(2)
    m = Matcher(MatcherSettings(threshold=0.6, margin=0.05))
    d = m.decide(_near(alice, 0.8), "m", _gallery(alice=[alice], bob=[bob]))
    assert d.verdict is Verdict.MATCH and d.query_id == "alice"
    assert d.similarity == pytest.approx(0.8, abs=1e-4)
    assert d.runner_up_id == "bob" and d.runner_up_similarity is not None
    assert "threshold" in d.reason


def test_below_threshold_is_no_match_and_near_is_uncertain():
    alice = _unit(1)
    m = Matcher(MatcherSettings(threshold=0.6, margin=0.05, uncertain_band=0.05))
    g = _gallery(alice=[alice])
    assert m.decide(_near(alice, 0.3), "m", g).verdict is Verdict.NO_MATCH
    d = m.decide(_near(alice, 0.58), "m", g)
    assert d.verdict is Verdict.UNCERTAIN and "below threshold" in d.reason


def test_ambiguous_between_two_queries_is_uncertain():
    alice = _unit(1)
    twin = _near(alice, 0.98, seed=5)
    m = Matcher(MatcherSettings(threshold=0.6, margin=0.05))
    d = m.decide(alice, "m", _gallery(alice=[alice], twin=[twin]))
    assert d.verdict is Verdict.UNCERTAIN and "runner-up" in d.reason


def test_multi_query_takes_best_view():
    front, back = _unit(1), _unit(2)
    m = Matcher(MatcherSettings(threshold=0.6))
    d = m.decide(_near(back, 0.9), "m", _gallery(alice=[front, back]))
    assert d.verdict is Verdict.MATCH and d.similarity == pytest.approx(0.9, abs=1e-4)
    assert d.view == 1  # the back view vouched for it: the evidence to show
    assert d.runner_up_view is None


def test_the_runner_up_view_is_named_as_evidence():
    alice, bob_front = _unit(1), _unit(2)
    probe = _near(alice, 0.8, seed=7)
    d = Matcher(MatcherSettings(threshold=0.6)).decide(
        probe, "m", _gallery(alice=[alice], bob=[bob_front, _near(probe, 0.77, seed=8)])
    )
    assert d.query_id == "alice" and d.view == 0
    assert d.runner_up_id == "bob" and d.runner_up_view == 1
    assert d.verdict is Verdict.UNCERTAIN  # 0.80 vs 0.77: less than the margin


def test_empty_gallery_and_model_mismatch():
    m = Matcher(MatcherSettings(threshold=0.6))
    assert m.decide(_unit(1), "m", Gallery()).verdict is Verdict.NO_MATCH
    g = _gallery(alice=[_unit(1)])
    with pytest.raises(ValueError, match="cannot compare"):
        m.decide(_unit(1), "other-model", g)
    with pytest.raises(ValueError, match="holds"):
        g.add("alice", Embeddings(_unit(3)[None], "other-model"))


def test_threshold_can_change_live():
    alice = _unit(1)
    m = Matcher(MatcherSettings(threshold=0.9))
    g = _gallery(alice=[alice])
    probe = _near(alice, 0.8)
    assert m.decide(probe, "m", g).verdict is not Verdict.MATCH
    m.set_threshold(0.7)
    assert m.decide(probe, "m", g).verdict is Verdict.MATCH
    with pytest.raises(ValueError):
        m.set_threshold(1.5)
