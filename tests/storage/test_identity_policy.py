"""The pure decisions: join or found, and which embeddings an identity keeps."""

import numpy as np
from storage_support import mix, person, view

from reidcam.identity import IdentitySettings
from reidcam.identity.policy import choose, evictions, is_redundant

S = IdentitySettings(threshold=0.7, margin=0.05)


def test_no_candidate_or_below_threshold_founds_a_new_identity():
    assert choose([], S).identity_id is None
    c = choose([("a", 0.6), ("b", 0.2)], S)
    assert c.identity_id is None and c.verdict == "new" and c.runner_up_id == "a" and c.enrich


def test_clear_winner_joins_and_enriches():
    c = choose([("a", 0.9), ("b", 0.5)], S)
    assert (c.identity_id, c.verdict, c.enrich) == ("a", "match", True)
    assert c.runner_up_id == "b" and c.runner_up_similarity == 0.5


def test_close_runner_up_joins_without_learning():
    c = choose([("a", 0.82), ("b", 0.80)], S)
    assert (c.identity_id, c.verdict, c.enrich) == ("a", "uncertain", False)
    assert "margin" in c.reason


def test_evictions_drop_near_copies_first_and_never_pinned():
    a, b, c = person(1), person(2), person(3)
    vecs = np.stack([a, view(a, 1, 0.01), b, c, view(a, 2, 0.01)]).astype(np.float32)
    pinned = np.array([True, False, False, False, False])
    drop = evictions(vecs, pinned, max_n=3)
    assert sorted(drop) == [1, 4], "the two near-copies of the pinned view go"
    assert evictions(vecs, np.ones(5, bool), max_n=2) == [], "pinned vectors are never evicted"


def test_redundancy():
    a = person(1)
    assert is_redundant(a, np.stack([a]), 0.97)
    assert not is_redundant(a, np.stack([mix(a, person(2), 0.5)]), 0.97)
    assert not is_redundant(a, np.zeros((0, len(a)), np.float32), 0.97)
