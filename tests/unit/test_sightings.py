import numpy as np

from reidcam.core import l2_normalize
from reidcam.pipeline.sightings import SightingBook


def _v(seed: int, dim: int = 8) -> np.ndarray:
    return l2_normalize(np.random.default_rng(seed).normal(size=(dim,)))


def test_prototype_is_robust_mean_and_bounded():
    book = SightingBook("cam", max_embeddings=3)
    book.observe(1, 0, 10.0)
    base = _v(1)
    for i in range(5):
        noisy = l2_normalize(base + 0.05 * _v(100 + i))
        book.add_embedding(1, noisy, "m", i)
    proto = book.prototype(1)
    assert proto is not None and float(proto @ base) > 0.95
    assert book.snapshot(1).n_embeddings == 3


def test_embedding_interval():
    book = SightingBook("cam", embed_interval_frames=5)
    book.observe(1, 0, 0.0)
    assert book.wants_embedding(1, 0)
    book.add_embedding(1, _v(1), "m", 0)
    assert not book.wants_embedding(1, 3)
    assert book.wants_embedding(1, 5)
    assert book.wants_embedding(2, 5)  # an unknown track always wants one


def test_expire_closes_unseen_tracks_with_times():
    book = SightingBook("cam", max_missing_frames=2)
    book.observe(1, 0, 100.0)
    book.observe(2, 0, 100.0)
    book.observe(1, 3, 103.0)
    closed = book.expire(3)
    assert [s.key.track_id for s in closed] == [2]
    assert len(book) == 1
    rest = book.close_all()
    assert rest[0].first_seen_at == 100.0 and rest[0].last_seen_at == 103.0


def test_abrupt_appearance_change_splits_the_sighting():
    book = SightingBook("cam", switch_similarity=0.5)
    book.observe(7, 0, 0.0)
    alice = _v(1)
    bob = l2_normalize(_v(2) - float(_v(2) @ alice) * alice)
    assert float(alice @ bob) < 0.5
    book.add_embedding(7, alice, "m", 0)
    book.add_embedding(7, alice, "m", 1)
    book.add_embedding(7, bob, "m", 2)
    proto = book.prototype(7)
    assert proto is not None and float(proto @ bob) > 0.99, "the new part must not blend in alice"
    closed = book.expire(2)
    assert len(closed) == 1 and closed[0].key.part == 0 and closed[0].n_embeddings == 2
    assert book.snapshot(7).key.part == 1 and book.splits == 1
