"""The memory service on both databases (SQLite and the embedded PostgreSQL with pgvector).

The service's own tests (tests/cluster) run on SQLite; this one checks that the idempotent
commit holds on PostgreSQL too, where the unique source id is what stops a second copy.
"""

from __future__ import annotations

import threading
import time

import pytest
from storage_support import SETTINGS

from broker.nats_support import MODEL, NatsServer, broker_config, make_sighting, need_nats_server
from reidcam.broker.connection import BrokerClient
from reidcam.broker.streams import STREAM, publish_sighting, setup_sightings_stream, sighting_subject
from reidcam.broker.wire import encode_sighting, message_headers
from reidcam.cluster.memory_service import MemoryService, ServiceSettings
from reidcam.identity import IdentityMemory

pytestmark = pytest.mark.broker


def test_published_sightings_are_stored_once_each_on_this_database(db_url, data_dir, tmp_path):
    need_nats_server()
    srv = NatsServer(tmp_path / "nats").start()
    try:
        with (
            BrokerClient(broker_config(srv.url, lease_ttl_s=2.0)) as client,
            IdentityMemory.open(data_dir, url=db_url, settings=SETTINGS) as memory,
        ):
            _run(client, memory)
    finally:
        srv.stop()


def _run(client: BrokerClient, memory: IdentityMemory) -> None:
    sent = [make_sighting(camera_id=f"c{i % 3}", seed=i) for i in range(30)]
    settings = ServiceSettings(name="m1", model_id=MODEL, fetch_timeout_s=0.2, standby_poll_s=0.1)
    service = MemoryService(client, memory, settings)
    thread = threading.Thread(target=service.run)
    thread.start()
    try:
        setup_sightings_stream(client)
        for s in sent:
            client.call(publish_sighting(client, s))
        resent = sent[0]  # again, under another message id: past the broker's de-duplication
        headers = {**message_headers(resent), "Nats-Msg-Id": "resent"}
        client.call(
            client.js.publish(sighting_subject(resent.camera_id), encode_sighting(resent), headers=headers)
        )
        _wait(lambda: service.stats.stored + service.stats.duplicates == 31)
    finally:
        service.stop()
        thread.join(15.0)
    assert (service.stats.stored, service.stats.duplicates) == (30, 1)
    assert memory.counts()["sightings"] == 30
    assert int(client.call(client.js.stream_info(STREAM)).state.messages) == 0


def _wait(pred, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, "the memory service did not store the sightings in time"
        time.sleep(0.05)
