"""The perception worker against a real nats-server: fake models, the synthetic two-camera scene.

Each test has its own server (the worker uses the product's fixed bucket and stream names).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from nats_support import NatsServer, broker_config, free_port
from worker_support import MODEL, SCRIPT, make_worker, running

from reidcam.broker.connection import BrokerClient
from reidcam.broker.health import HEALTH_TTL_S, read_health
from reidcam.broker.leases import CameraLeases, CameraRegistry
from reidcam.broker.settings import QueryPerson, SharedSettings
from reidcam.broker.streams import SightingConsumer, setup_sightings_stream

log = logging.getLogger(__name__)
pytestmark = pytest.mark.broker
TTL_S = 2.0
SCENE = {"cam0": {"source": "synthetic-cam0"}, "cam1": {"source": "synthetic-cam1"}}
REPO = Path(__file__).resolve().parents[2]


def wait_for(what: str, check: Callable[[], bool], timeout_s: float = 15.0) -> float:
    """Seconds until ``check()`` holds; fails the test after ``timeout_s``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if check():
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout_s} s: {what}")


@pytest.fixture
def connect(own_nats_server: NatsServer) -> Iterator[Callable[[], BrokerClient]]:
    """Makes connections to this test's server (one per worker, like separate processes)."""
    clients: list[BrokerClient] = []

    def make() -> BrokerClient:
        clients.append(BrokerClient(broker_config(own_nats_server.url, lease_ttl_s=TTL_S)).connect())
        return clients[-1]

    yield make
    for c in reversed(clients):
        c.close()


def registry_with(client: BrokerClient, cameras: dict[str, dict[str, object]]) -> CameraRegistry:
    registry = CameraRegistry(client).open()
    for cid, value in cameras.items():
        registry.put(cid, value)
    return registry


def consumer_of(client: BrokerClient) -> SightingConsumer:
    """The memory service's consumer; the stream is made here too (a worker may not have yet)."""
    setup_sightings_stream(client)
    return SightingConsumer(client, expect_model_id=MODEL).start()


def consume(consumer: SightingConsumer, until: Callable[[list], bool], timeout_s: float = 20.0) -> list:
    """Fetch and ack sightings until ``until(all so far)`` holds."""
    got: list = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not until(got):
        for d in consumer.fetch(batch=32, timeout_s=0.5):
            got.append(d.sighting)
            d.ack()
    assert until(got), f"sightings so far: {[(s.camera_id, s.worker) for s in got]}"
    return got


def test_one_worker_takes_both_cameras_and_publishes_their_sightings(connect) -> None:
    admin = connect()
    registry_with(admin, SCENE)
    settings = SharedSettings(admin).open()
    worker = make_worker(connect(), "w1")
    with running(worker):
        wait_for("w1 runs both cameras", lambda: worker.cameras() == ["cam0", "cam1"])
        leases = CameraLeases(admin, "admin", TTL_S).open()
        assert leases.owner("cam0") == leases.owner("cam1") == "w1"
        consumer = consumer_of(admin)
        got = consume(consumer, lambda s: {x.camera_id for x in s} == {"cam0", "cam1"})
        assert all(s.worker == "w1" and s.model_id == MODEL and s.n_embeddings > 0 for s in got)
        assert len({s.sighting_id for s in got}) == len(got)
        # live settings reach the matcher the pipeline uses
        settings.set_threshold(0.42)
        wait_for("threshold applied", lambda: worker.models.matcher.settings.threshold == pytest.approx(0.42))
        vectors = got[0].prototype[None, :]
        settings.set_queries([QueryPerson("alice", MODEL, vectors), QueryPerson("x", "other-model", vectors)])
        wait_for("query applied", lambda: [i.label for i in worker.models.gallery.identities()] == ["alice"])
    assert worker.status().published >= len(got)
    assert leases.owner("cam0") is None and leases.owner("cam1") is None, "a clean stop releases the leases"


def test_two_workers_with_one_camera_each_share_the_cameras(connect) -> None:
    admin = connect()
    registry_with(admin, SCENE)
    w1, w2 = make_worker(connect(), "w1", max_cameras=1), make_worker(connect(), "w2", max_cameras=1)
    with running(w1), running(w2):
        wait_for("each worker runs one camera", lambda: len(w1.cameras()) == len(w2.cameras()) == 1)
        assert sorted(w1.cameras() + w2.cameras()) == ["cam0", "cam1"]
        consumer = consumer_of(admin)
        got = consume(consumer, lambda s: {x.worker for x in s} == {"w1", "w2"})
        by_worker = {s.worker: {x.camera_id for x in got if x.worker == s.worker} for s in got}
        assert by_worker == {"w1": set(w1.cameras()), "w2": set(w2.cameras())}
        time.sleep(3 * 0.2)  # several passes: nobody takes a second camera
        assert len(w1.cameras()) == len(w2.cameras()) == 1


def test_registry_removal_lets_the_camera_go(connect) -> None:
    admin = connect()
    registry = registry_with(admin, SCENE)
    leases = CameraLeases(admin, "admin", TTL_S).open()
    worker = make_worker(connect(), "w1")
    with running(worker):
        wait_for("both cameras", lambda: worker.cameras() == ["cam0", "cam1"])
        registry.remove("cam1")
        wait_for("cam1 let go", lambda: worker.cameras() == ["cam0"], timeout_s=5.0)
        wait_for("cam1 lease released", lambda: leases.owner("cam1") is None, timeout_s=2.0)
        assert [u.camera_id for u in worker.runner.cameras] == ["cam0"]
        assert leases.owner("cam0") == "w1"
        registry.put("cam1", SCENE["cam1"])  # added again: picked up again
        wait_for("cam1 back", lambda: worker.cameras() == ["cam0", "cam1"], timeout_s=5.0)


def test_a_bad_registry_entry_is_refused_and_the_others_run(connect) -> None:
    admin = connect()
    registry_with(admin, {"cam0": SCENE["cam0"], "bad": {"source": "x", "no_such_field": 1}})
    worker = make_worker(connect(), "w1")
    with running(worker):
        wait_for("cam0 runs", lambda: worker.cameras() == ["cam0"])
        time.sleep(0.5)
        assert worker.cameras() == ["cam0"]
        assert "no_such_field" in worker.status().refused_cameras["bad"]
        assert CameraLeases(admin, "admin", TTL_S).open().owner("bad") is None


def _spawn_worker(url: str, name: str, max_cameras: int | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    args = [sys.executable, str(SCRIPT), url, name, str(TTL_S)] + ([str(max_cameras)] if max_cameras else [])
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.parametrize(
    "sig",
    [signal.SIGKILL, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)],  # ~16 s each here
    ids=["sigkill", "sigterm"],
)
def test_a_dead_workers_camera_moves_to_the_other_within_the_lease_ttl(
    connect, own_nats_server: NatsServer, sig: int
) -> None:
    admin = connect()
    registry_with(admin, {"cam0": SCENE["cam0"]})
    leases = CameraLeases(admin, "admin", TTL_S).open()
    proc = _spawn_worker(own_nats_server.url, "doomed")
    try:
        wait_for("the subprocess leases cam0", lambda: leases.owner("cam0") == "doomed", timeout_s=30.0)
        consumer = consumer_of(admin)
        consume(consumer, lambda s: any(x.worker == "doomed" for x in s))  # it runs cam0
        assert read_health(admin)["worker.doomed"]["cameras"] == ["cam0"]
        survivor = make_worker(connect(), "survivor")
        with running(survivor):
            time.sleep(0.5)
            assert survivor.cameras() == [], "a held camera is not taken"
            os.kill(proc.pid, sig)
            t0 = time.monotonic()
            wait_for("survivor leases cam0", lambda: leases.owner("cam0") == "survivor", timeout_s=3 * TTL_S)
            took_s = time.monotonic() - t0
            log.info("takeover after %s: %.3f s", signal.Signals(sig).name, took_s)  # the figure in the docs
            wait_for("the survivor runs cam0", lambda: survivor.cameras() == ["cam0"], timeout_s=20.0)
            proc.wait(15)
            # its health key: deleted by the clean stop (before the process exits), lapsed by
            # the bucket's TTL after a kill
            doomed_health = "worker.doomed" in read_health(admin)
            wait_for("doomed's health key gone", lambda: "worker.doomed" not in read_health(admin),
                     timeout_s=HEALTH_TTL_S + 2.0)  # fmt: skip
            assert "worker.survivor" in read_health(admin)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    if sig == signal.SIGTERM:
        assert proc.returncode == 0, out
        assert took_s < 1.5, f"a clean stop releases the lease at once; took {took_s:.2f} s\n{out}"
        assert not doomed_health, "a clean stop deletes the health key"
    else:
        assert proc.returncode == -signal.SIGKILL
        # the lease lapses at most a TTL after the last renewal (every TTL/3 before the kill)
        assert took_s <= TTL_S + 0.5, f"took {took_s:.2f} s at a {TTL_S} s TTL"


def test_an_unreachable_broker_is_one_error_line_and_exit_code_2(tmp_path: Path) -> None:
    pytest.importorskip("nats")
    cfg = tmp_path / "worker.yaml"
    cfg.write_text("broker:\n  connect_timeout_s: 0.5\n  connect_attempts: 2\n  reconnect_wait_s: 0.2\n")
    url = f"nats://127.0.0.1:{free_port()}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "reidcam.cli", "worker", "--broker", url, "--config", str(cfg)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"reidcam: error: cannot reach the NATS broker at {url} after 2 attempts")


def test_queries_of_the_scene_match_on_the_worker(connect) -> None:
    """Alice's colour as the shared query: her sightings are matched by the worker's matcher."""
    from reidcam.testing.fakes import FakeEmbedder
    from reidcam.testing.scene import crop_of

    admin = connect()
    alice = FakeEmbedder().embed([crop_of((30, 30, 220))]).vectors
    SharedSettings(admin).open().set_queries([QueryPerson("alice", MODEL, np.asarray(alice))])
    registry_with(admin, {"cam0": SCENE["cam0"]})
    worker = make_worker(connect(), "w1")
    seen: list = []
    original = worker.models.matcher.decide

    def spy(*args, **kwargs):
        decision = original(*args, **kwargs)
        seen.append(decision)
        return decision

    worker.models.matcher.decide = spy  # type: ignore[method-assign]
    with running(worker):
        wait_for("alice matched on cam0", lambda: any(d.matched for d in list(seen)), timeout_s=20.0)
    assert {d.query_id for d in seen if d.matched} == {"shared:alice"}
