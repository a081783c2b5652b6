"""Camera leases on a real nats-server: one owner, lapse and takeover, stale renewals refused."""

from __future__ import annotations

import threading
import time

import pytest
from nats_support import broker_config

from reidcam.broker.connection import BrokerClient
from reidcam.broker.errors import BrokerError, LeaseLostError
from reidcam.broker.leases import LEASE_BUCKET, CameraLeases, CameraRegistry, LeaseKeeper

pytestmark = pytest.mark.broker
TTL = 1.0


@pytest.fixture
def two_clients(nats_server):
    """Two processes' connections (each its own loop thread), as two workers would have."""
    with (
        BrokerClient(broker_config(nats_server.url, name="w1")) as a,
        BrokerClient(broker_config(nats_server.url, name="w2")) as b,
    ):
        yield a, b
        b.call(b.js.delete_key_value(LEASE_BUCKET))


def test_two_holders_race_for_each_camera_exactly_one_wins(two_clients):
    a, b = two_clients
    holders = [CameraLeases(a, "w1", TTL).open(), CameraLeases(b, "w2", TTL).open()]
    cameras = [f"cam{i}" for i in range(20)]
    wins: dict[str, list[str]] = {c: [] for c in cameras}
    barrier = threading.Barrier(2)

    def race(leases: CameraLeases) -> None:
        for cam in cameras:
            barrier.wait()
            if leases.acquire(cam) is not None:
                wins[cam].append(leases.holder)

    threads = [threading.Thread(target=race, args=(h,)) for h in holders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert all(len(w) == 1 for w in wins.values()), wins
    for cam, (winner,) in wins.items():
        assert holders[0].owner(cam) == winner


def test_renewal_keeps_it_then_a_lapsed_lease_is_taken_within_the_ttl(two_clients, nats_server):
    a, b = two_clients
    lost: list[str] = []
    keeper = LeaseKeeper(CameraLeases(a, "w1", TTL).open(), lambda cam, why: lost.append(cam)).start()
    other = CameraLeases(b, "w2", TTL).open()
    assert keeper.take("door") and keeper.held() == ["door"]
    # renewed every ttl/3: still held well past one TTL
    time.sleep(2 * TTL)
    assert other.acquire("door") is None and other.owner("door") == "w1"
    # the owner stops renewing (its process dies: no release) ...
    a.close()
    died = time.monotonic()
    took = None
    while took is None and time.monotonic() - died < 3 * TTL:
        took = other.acquire("door")
        time.sleep(0.05)
    # ... and the other holder has it within the TTL (+ slack for polling, the server's expiry
    # timer and a loaded CI machine)
    assert took is not None and time.monotonic() - died <= TTL + 1.0
    assert other.owner("door") == "w2" and lost == []


def test_renewal_with_a_stale_revision_fails(two_clients):
    a, _ = two_clients
    leases = CameraLeases(a, "w1", TTL).open()
    first = leases.acquire("gate")
    assert first is not None
    second = leases.renew(first)
    assert second.revision > first.revision
    with pytest.raises(LeaseLostError, match="gate"):
        leases.renew(first)
    assert leases.renew(second).revision > second.revision


def test_keeper_reports_a_lost_lease_and_release_moves_the_camera_at_once(two_clients):
    a, b = two_clients
    leases_a = CameraLeases(a, "w1", TTL).open()
    lost: list[tuple[str, str]] = []
    keeper = LeaseKeeper(leases_a, lambda cam, why: lost.append((cam, why))).start()
    assert keeper.take("hall") and keeper.take("yard")
    # someone removes w1's lease behind its back (an operator, or a lapse during a pause)
    b_leases = CameraLeases(b, "w2", TTL).open()
    b.call(b_leases._kv.purge("hall"))
    assert b_leases.acquire("hall") is not None
    deadline = time.monotonic() + 2 * TTL
    while not lost and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [cam for cam, _ in lost] == ["hall"] and "another worker" in lost[0][1]
    assert keeper.held() == ["yard"]
    keeper.stop()  # clean stop releases what it holds
    assert b_leases.owner("yard") is None and b_leases.acquire("yard") is not None


def test_a_bucket_with_another_ttl_is_a_clear_error(two_clients):
    a, _ = two_clients
    CameraLeases(a, "w1", TTL).open()
    with pytest.raises(BrokerError, match="lease_ttl_s"):
        CameraLeases(a, "w1", 5.0).open()


def test_bad_camera_id_is_refused(two_clients):
    a, _ = two_clients
    with pytest.raises(BrokerError, match="cannot be used on the broker"):
        CameraLeases(a, "w1", TTL).open().acquire("a..b")


def test_registry_lists_added_and_removed_cameras(client):
    reg = CameraRegistry(client).open()
    try:
        assert reg.cameras() == {}
        reg.put("c1", {"source": "rtsp://cam1/stream"})
        reg.put("c2.left", {"source": 0})
        reg.remove("c1")
        assert reg.cameras() == {"c2.left": {"source": 0}}
    finally:
        client.call(client.js.delete_key_value("reidcam-cameras"))


def test_reading_the_registry_leaves_no_consumer_behind(client):
    """A worker reads the registry every second: each read's consumer must go soon after it
    (nats-py's ``kv.keys()`` left one for 5 minutes: ~300 idle consumers per worker)."""
    from reidcam.broker.kv import READ_INACTIVE_S

    reg = CameraRegistry(client).open()
    try:
        reg.put("c1", {"source": "a"})
        reg.put("c2", {"source": "b"})
        reg.put("c1", {"source": "a2"})  # the latest value is read
        reg.put("c3", {"source": "c"})
        reg.remove("c3")  # the last message of the bucket is a delete
        for _ in range(10):
            assert reg.cameras() == {"c1": {"source": "a2"}, "c2": {"source": "b"}}
        deadline = time.monotonic() + 3 * READ_INACTIVE_S + 5
        while time.monotonic() < deadline:
            left = client.call(client.js.stream_info("KV_reidcam-cameras")).state.consumer_count
            if left == 0:
                break
            time.sleep(0.2)
        assert left == 0, f"{left} consumer(s) left on the registry's stream"
    finally:
        client.call(client.js.delete_key_value("reidcam-cameras"))


def test_the_registry_watch_keeps_a_complete_copy_and_brings_changes_at_once(client):
    from reidcam.broker.leases import RegistryWatch

    reg = CameraRegistry(client).open()
    try:
        reg.put("c1", {"source": "a"})
        reg.put("c2", {"source": "b"})
        changes = threading.Event()
        watch = reg.follow(changes.set)
        try:
            assert watch.wait_until(lambda cams: len(cams) == 2, 5.0)
            assert watch.cameras() == {"c1": {"source": "a"}, "c2": {"source": "b"}}
            changes.clear()
            reg.put("c3", {"source": "c"})
            reg.put("c1", {"source": "a2"})
            reg.remove("c2")
            assert changes.wait(2.0), "a change calls back"
            assert watch.wait_until(lambda cams: cams == {"c1": {"source": "a2"}, "c3": {"source": "c"}}, 2.0)
            for _ in range(10):  # no consumer per read: one for the watch, however often it is read
                watch.cameras()
            time.sleep(0.5)
            assert client.call(client.js.stream_info("KV_reidcam-cameras")).state.consumer_count == 1
        finally:
            watch.stop()
    finally:
        client.call(client.js.delete_key_value("reidcam-cameras"))
    with pytest.raises(BrokerError, match="not been read yet"):
        RegistryWatch(client, None, lambda: None).cameras()


def test_the_registry_watch_rides_out_a_broker_restart(own_nats_server):
    with (
        BrokerClient(broker_config(own_nats_server.url)) as c,
        BrokerClient(broker_config(own_nats_server.url)) as admin,
    ):
        reg = CameraRegistry(admin).open()
        reg.put("c1", {"source": "a"})
        watch = CameraRegistry(c).open().follow()
        assert watch.wait_until(lambda cams: "c1" in cams, 5.0)
        own_nats_server.stop()
        deadline = time.monotonic() + 10
        while c.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert watch.cameras() == {"c1": {"source": "a"}}, "the last copy while the broker is away"
        own_nats_server.start()
        deadline = time.monotonic() + 20
        while not (admin.connected and c.connected) and time.monotonic() < deadline:
            time.sleep(0.05)
        reg.put("c2", {"source": "b"})
        reg.remove("c1")
        assert watch.wait_until(lambda cams: cams == {"c2": {"source": "b"}}, 15.0), watch.cameras()
        watch.stop()
