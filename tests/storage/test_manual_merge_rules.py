"""A user's merge or move obeys the memory's hard rules: people seen at once on one camera, or
seen on two cameras closer in time than the walk between them takes (``cameras[].neighbours``),
are never one person. The refusal says why and changes nothing."""

from __future__ import annotations

import pytest
from storage_support import person, sighting

from reidcam.identity import IdentitySettings
from reidcam.identity.feedback import ImpossibleMoveError, OverlapError
from reidcam.identity.topology import Link, Topology

# c1 <-> c2 takes at least 30 s; c3 is outside the topology.
TOPOLOGY = Topology.from_links([Link("c1", "c2", 30.0, 300.0)])
STRICT = IdentitySettings(threshold=0.99, topology=TOPOLOGY)  # nothing joins by itself


@pytest.fixture
def memory(open_memory):
    return open_memory(STRICT)


def _seen(memory, camera: str, track: int, t0: float, seed: int) -> tuple[str, str]:
    got = memory.record_sighting(sighting(camera, track, person(seed), t0, t0 + 5.0))
    assert got.created_identity
    return got.identity_id, got.sighting_id


def test_merge_of_people_seen_on_linked_cameras_too_close_in_time_is_refused(memory):
    a, sa = _seen(memory, "c1", 1, 1000.0, 1)
    b, sb = _seen(memory, "c2", 2, 1010.0, 2)  # 5 s after a left c1: the walk takes 30 s
    with pytest.raises(ImpossibleMoveError) as err:
        memory.merge(a, b)
    msg = str(err.value)
    assert "camera topology" in msg and "c1 -> c2 in 5.0 s, a walk takes at least 30.0 s" in msg
    assert sa in msg and sb in msg
    assert memory.get_identity(b) is not None and memory.get_identity(a).n_sightings == 1
    with pytest.raises(ImpossibleMoveError):
        memory.merge(b, a)  # the other way round is the same two sightings


def test_merge_is_allowed_when_the_walk_fits_or_a_camera_is_outside_the_topology(memory):
    a, _ = _seen(memory, "c1", 1, 1000.0, 1)
    b, _ = _seen(memory, "c2", 2, 1040.0, 2)  # 35 s later: possible
    c, _ = _seen(memory, "c3", 3, 1001.0, 3)  # c3 has no links: unconstrained
    assert memory.merge(a, b).n_sightings == 2
    assert memory.merge(a, c).n_sightings == 3


def test_merge_of_people_seen_at_once_on_one_camera_is_refused(memory):
    a, _ = _seen(memory, "c3", 1, 1000.0, 1)
    b, _ = _seen(memory, "c3", 2, 1003.0, 2)
    with pytest.raises(OverlapError, match="seen at the same time on camera c3"):
        memory.merge(a, b)
    assert memory.get_identity(b) is not None


def test_moving_a_sighting_into_an_identity_it_cannot_be_is_refused(memory):
    a, _ = _seen(memory, "c1", 1, 1000.0, 1)
    _, sb = _seen(memory, "c2", 2, 1010.0, 2)
    with pytest.raises(ImpossibleMoveError, match=r"c1 -> c2 in 5\.0 s"):
        memory.assign(sb, a)
    assert memory.get_sighting(sb).identity_id != a
