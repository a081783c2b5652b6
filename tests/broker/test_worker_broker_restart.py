"""A whole worker through a broker restart (file store): it keeps processing while the broker is
away, buffers closed sightings up to ``broker.buffer_max_sightings`` and drops the oldest past
it (counted in its status), reconnects by itself; nothing the broker acknowledged is lost and
every buffered sighting arrives once.

(``test_buffer.py`` covers the publisher alone; here it is the worker: runner, sink, publisher,
leases and settings watch on one connection, fake models on the looping synthetic scene.)
"""

from __future__ import annotations

import signal
import time

import pytest
from nats_support import NatsServer, broker_config
from recording_worker import RecordingWorker
from worker_support import MODEL, running

from reidcam.broker.connection import BrokerClient
from reidcam.broker.leases import CameraRegistry
from reidcam.broker.streams import SightingConsumer, setup_sightings_stream
from reidcam.cluster.worker import WorkerOptions
from reidcam.testing.live import scene_camera
from reidcam.testing.models import fake_models

pytestmark = pytest.mark.broker  # ~8 s here (an outage long enough to overflow the buffer)
BUFFER = 3
SCENE = {"cam0": {"source": "synthetic-cam0"}, "cam1": {"source": "synthetic-cam1"}}


def wait_for(what: str, check, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        time.sleep(0.05)


def drain(consumer: SightingConsumer, into: list[str], quiet_s: float = 1.0) -> None:
    """Fetch and ack until nothing came for ``quiet_s``."""
    while batch := consumer.fetch(batch=64, timeout_s=quiet_s):
        for d in batch:
            into.append(d.sighting.sighting_id)
            d.ack()


def test_a_worker_rides_out_a_broker_restart(own_nats_server: NatsServer) -> None:
    url = own_nats_server.url
    cfg = broker_config(url, lease_ttl_s=30.0, buffer_max_sightings=BUFFER, request_timeout_s=1.0)
    with BrokerClient(cfg) as admin, BrokerClient(cfg) as wclient:
        registry = CameraRegistry(admin).open()
        for cid, value in SCENE.items():
            registry.put(cid, value)
        setup_sightings_stream(admin)
        consumer = SightingConsumer(admin, expect_model_id=MODEL).start()
        options = WorkerOptions(name="w1", poll_s=0.2, flush_timeout_s=10.0)
        worker = RecordingWorker(wclient, fake_models(), lambda cam: scene_camera(cam, fps=30.0), options)
        received: list[str] = []
        with running(worker):
            wait_for("both cameras run", lambda: worker.cameras() == ["cam0", "cam1"])
            wait_for("sightings acknowledged", lambda: worker.status().publisher.get("published", 0) >= 3)

            own_nats_server.stop(signal.SIGKILL)  # the file store stays
            wait_for(
                "the worker sees the broker gone", lambda: worker.status().broker["state"] != "connected"
            )
            acked_before = worker.closed_ids()[: int(worker.status().publisher["published"])]
            closed_at_outage = len(worker.closed_ids())
            frames_at_outage = worker.runner.stats.frames if worker.runner else 0
            # the cameras keep running: sightings keep closing, the buffer overflows, drops are counted
            wait_for("the buffer overflows", lambda: int(worker.status().publisher["dropped"]) >= 2, 30.0)
            status = worker.status()
            assert status.publisher["queued"] == BUFFER, status
            assert status.cameras == ["cam0", "cam1"], "the cameras keep running while the broker is away"
            assert worker.runner is not None and worker.runner.stats.frames > frames_at_outage
            dropped_in_outage = int(status.publisher["dropped"])
            closed_in_outage = worker.closed_ids()[closed_at_outage:]

            own_nats_server.start()  # same port, same store
            wait_for("reconnected by itself", lambda: worker.status().broker["state"] == "connected")
            wait_for("the buffer flushed", lambda: worker.status().publisher["queued"] == 0)
            n = len(worker.closed_ids())
            wait_for("new sightings after the restart", lambda: len(worker.closed_ids()) > n + 1, 20.0)
            assert worker.status().broker["reconnects"] >= 1
        final = worker.status()
        drain(consumer, received)

    closed = worker.closed_ids()
    dropped = int(final.publisher["dropped"])
    assert dropped == dropped_in_outage, "drops only while the broker was away"
    assert len(received) == len(set(received)), "every sighting arrives once"
    assert set(acked_before) <= set(received), "nothing the broker acknowledged is lost"
    missing = [i for i in closed if i not in set(received)]
    assert len(missing) == dropped, f"{len(missing)} missing, {dropped} counted as dropped"
    assert set(missing) <= set(closed_in_outage), "only sightings closed during the outage were dropped"
    # the oldest are dropped, the newest BUFFER kept (one in flight at the loss may also be kept)
    kept = [i for i in closed_in_outage if i in set(received)]
    assert closed_in_outage[-(BUFFER - 1) :] == kept[-(BUFFER - 1) :]
    assert set(received) == set(closed) - set(missing) and final.publisher["queued"] == 0
