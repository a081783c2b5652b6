"""The join rule: a sighting joins an identity only if it agrees with the identity as a whole.

Synthetic people (unit vectors, see storage_support) on SQLite and PostgreSQL. The chain:
``b`` is half-way between two different people ``a`` and ``c`` (cos(a, b) = cos(b, c) = 0.71,
cos(a, c) = 0). The nearest-member rule puts all three in one identity; the quorum rule does not.
"""

from __future__ import annotations

import numpy as np
import pytest
from storage_support import person, sighting, view

from reidcam.core.types import l2_normalize
from reidcam.identity import IdentitySettings
from reidcam.identity.audit import audit
from reidcam.identity.feedback import OverlapError
from reidcam.identity.policy import choose, quorum_size, support
from reidcam.identity.topology import Link, Topology

NEW = IdentitySettings(threshold=0.65, quorum=0.5, margin=0.05, max_embeddings_per_identity=8)
OLD = IdentitySettings(threshold=0.65, quorum=0.0, margin=0.05, max_embeddings_per_identity=8)


def chain() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a = person(1)
    c = person(2)
    c = l2_normalize(c - float(c @ a) * a)
    return a, l2_normalize(a + c), c


# -- the pure rule ------------------------------------------------------------------
def test_quorum_size_is_a_strict_majority_and_zero_is_the_nearest_member():
    assert [quorum_size(n, 0.5) for n in (1, 2, 3, 4, 5, 32)] == [1, 2, 2, 3, 3, 17]
    assert [quorum_size(n, 0.0) for n in (1, 2, 5)] == [1, 1, 1]


def test_support_is_the_quorum_similarity_and_counts_agreeing_members():
    sims = np.array([0.9, 0.2, 0.8, 0.1, 0.7], np.float32)
    s = support("x", sims, NEW)
    assert (s.similarity, s.n_members, s.n_agree, s.via_user) == (pytest.approx(0.7), 5, 3, False)
    assert support("x", sims, OLD).similarity == pytest.approx(0.9), "quorum 0 is the nearest member"
    pinned = np.array([False, False, False, False, True])
    assert support("x", np.array([0.9, 0.2, 0.1, 0.1, 0.85], np.float32), NEW, pinned).via_user
    with pytest.raises(ValueError, match="no member"):
        support("x", np.zeros(0, np.float32), NEW)


def test_choose_explains_how_many_members_agree():
    s = support("x", np.array([0.9, 0.3], np.float32), NEW)
    c = choose([("x", s.similarity)], NEW, {"x": s})
    assert c.identity_id is None and "1 of its 2 members agree, 2 needed" in c.reason


# -- the chain, in a real database ------------------------------------------------------
@pytest.mark.parametrize(("settings", "chained"), [(OLD, True), (NEW, False)], ids=["old", "new"])
def test_the_old_rule_chain_merges_a_b_c_and_the_quorum_rule_does_not(open_memory, settings, chained):
    memory = open_memory(settings)
    a, b, c = chain()
    assert float(a @ c) == pytest.approx(0.0, abs=1e-6) and float(a @ b) == pytest.approx(0.707, abs=1e-3)
    ra = memory.record_sighting(sighting("c1", 1, a, 1000.0))
    rb = memory.record_sighting(sighting("c2", 1, b, 2000.0))
    rc = memory.record_sighting(sighting("c3", 1, c, 3000.0))
    assert rb.identity_id == ra.identity_id, "b is similar enough to a alone"
    assert (rc.identity_id == ra.identity_id) is chained
    if not chained:
        assert rc.created_identity and "1 of its 2 members agree, 2 needed" in rc.reason
        d = memory.decisions(rc.sighting_id)[-1]
        assert (d.verdict, d.n_members, d.n_agree) == ("new", None, None)
        joined = memory.decisions(rb.sighting_id)[-1]
        assert (joined.verdict, joined.n_members, joined.n_agree) == ("match", 1, 1)


def test_a_consistent_person_still_joins_under_the_quorum_rule(open_memory):
    memory = open_memory(NEW)
    alice = person(7)
    first = memory.record_sighting(sighting("c1", 1, view(alice, 1), 1000.0))
    later = [
        memory.record_sighting(sighting("c2", i, view(alice, 1 + i), 1000.0 + 60 * i)) for i in range(1, 8)
    ]
    assert {r.identity_id for r in later} == {first.identity_id}
    assert all(r.verdict == "match" for r in later)


# -- two people at once on one camera ------------------------------------------------
def test_merge_and_move_of_people_seen_at_once_on_one_camera_are_refused(open_memory):
    memory = open_memory(NEW)
    twin = person(5)
    r1 = memory.record_sighting(sighting("c1", 1, view(twin, 1), 1000.0, 1010.0))
    r2 = memory.record_sighting(sighting("c1", 2, view(twin, 2), 1005.0, 1015.0))
    assert r1.identity_id != r2.identity_id, "seen at once: never one identity"
    with pytest.raises(OverlapError, match="seen at the same time on camera c1"):
        memory.merge(r1.identity_id, r2.identity_id)
    with pytest.raises(OverlapError, match="at the same time"):
        memory.assign(r2.sighting_id, r1.identity_id)
    # Nothing changed: both identities and their sightings are where they were.
    assert memory.get_sighting(r2.sighting_id).identity_id == r2.identity_id
    assert memory.get_identity(r1.identity_id).n_sightings == 1
    with memory.engine.connect() as conn:
        assert audit(conn).overlaps == []
    # Not at the same time: the merge is the user's word and goes through.
    r3 = memory.record_sighting(sighting("c2", 3, person(9), 5000.0))
    assert memory.merge(r1.identity_id, r3.identity_id).n_sightings == 2


# -- camera topology ---------------------------------------------------------------------
def test_topology_least_transit_is_the_shortest_path_and_links_are_two_way():
    topo = Topology.from_links([Link("c1", "c2", 30, 120), Link("c2", "c3", 10), Link("c4", "c5", 0)])
    assert topo.least_transit_s("c1", "c3") == 40 and topo.least_transit_s("c3", "c1") == 40
    assert topo.least_transit_s("c1", "c9") is None, "a camera outside the topology is unconstrained"
    assert topo.impossible("c1", "c3", 39.0) and topo.impossible("c1", "c3", 40.0) is None
    assert "at least 30.0 s" in topo.impossible("c2", "c1", 5.0)
    assert topo.impossible("c4", "c5", -3.0) is None, "min 0: overlapping views, seen on both at once"
    assert topo.impossible("c1", "c4", -1.0) and topo.impossible("c1", "c4", 1.0) is None
    assert topo.horizon_s() == 40
    with pytest.raises(ValueError, match="max_transit_s"):
        Link("c1", "c2", 30, 10)


def test_topology_forbids_joining_after_an_impossible_move(open_memory):
    topo = Topology.from_links([Link("c1", "c2", 30.0, 300.0)])
    memory = open_memory(IdentitySettings(threshold=0.65, topology=topo))
    bob = person(11)
    seen = memory.record_sighting(sighting("c1", 1, view(bob, 1), 1000.0, 1010.0))
    too_fast = memory.record_sighting(sighting("c2", 1, view(bob, 2), 1020.0, 1030.0))
    assert too_fast.created_identity and "c1 -> c2 in 10.0 s, a walk takes at least 30.0 s" in too_fast.reason
    walked = memory.record_sighting(sighting("c2", 2, view(bob, 3), 1100.0, 1110.0))
    assert walked.identity_id in {seen.identity_id, too_fast.identity_id}
    assert memory.record_sighting(sighting("c9", 1, view(bob, 4), 1012.0)).created_identity is False, (
        "c9 is outside the topology: no constraint"
    )


def test_without_topology_the_same_moves_join(open_memory):
    memory = open_memory(IdentitySettings(threshold=0.65))
    bob = person(11)
    seen = memory.record_sighting(sighting("c1", 1, view(bob, 1), 1000.0, 1010.0))
    assert (
        memory.record_sighting(sighting("c2", 1, view(bob, 2), 1020.0, 1030.0)).identity_id
        == seen.identity_id
    )
