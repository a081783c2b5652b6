"""Closed sightings while the broker is away: queued, bounded, flushed in order, stored once."""

from __future__ import annotations

import signal
import time

import pytest
from nats_support import MODEL, NatsServer, broker_config, make_sighting

from reidcam.broker.buffer import SightingPublisher
from reidcam.broker.connection import BrokerClient
from reidcam.broker.streams import SightingConsumer

pytestmark = pytest.mark.broker


def _drain(client: BrokerClient) -> list[str]:
    """Every sighting id in the stream, in stream order, each acked."""
    consumer = SightingConsumer(client, expect_model_id=MODEL).start()
    ids: list[str] = []
    while batch := consumer.fetch(batch=100, timeout_s=0.5):
        for d in batch:
            ids.append(d.sighting.sighting_id)
            d.ack()
    consumer.stop()
    return ids


def _wait_until(cond, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["clean-stop", "kill-9"])
def test_outage_nothing_acknowledged_lost_flushed_in_order_once(own_nats_server: NatsServer, stop_signal):
    with BrokerClient(broker_config(own_nats_server.url, request_timeout_s=1.0)) as client:
        pub = SightingPublisher(client, max_queued=1000).start()
        before = [make_sighting(seed=i) for i in range(5)]
        for s in before:
            pub.publish(s)
        assert pub.flush(10.0) and pub.status().published == 5

        own_nats_server.stop(stop_signal)  # the file store directory is kept
        _wait_until(lambda: not client.connected, 5.0)
        during = [make_sighting(camera_id="c2", seed=100 + i) for i in range(20)]
        for s in during:
            pub.publish(s)  # returns at once: the camera loop never waits for the broker
        _wait_until(lambda: pub.status().last_error is not None, 5.0)
        assert pub.status().queued == 20 and not pub.flush(0.3)

        own_nats_server.start()
        assert pub.flush(15.0), pub.status()
        for s in before[:3]:  # a worker re-sending what was acked already (a lost answer)
            pub.publish(s)
        assert pub.flush(10.0)
        st = pub.close()
        assert (st.queued, st.dropped) == (0, 0) and st.duplicates >= 3 and st.last_error is None

        ids = _drain(client)
    assert ids == [s.sighting_id for s in before + during]


def test_a_full_queue_drops_the_oldest_and_counts_them(own_nats_server: NatsServer):
    with BrokerClient(broker_config(own_nats_server.url, request_timeout_s=1.0)) as client:
        pub = SightingPublisher(client, max_queued=10).start()
        _wait_until(lambda: pub.flush(0.0), 5.0)
        own_nats_server.stop()
        _wait_until(lambda: not client.connected, 5.0)
        sent = [make_sighting(seed=i) for i in range(25)]
        for s in sent:
            pub.publish(s)
        st = pub.status()
        assert (st.queued, st.dropped) == (10, 15)
        own_nats_server.start()
        assert pub.flush(15.0), pub.status()
        assert pub.close().as_dict()["dropped"] == 15
        ids = _drain(client)
    # the 10 kept: the newest, except that the one already in flight when the queue overflowed
    # (it may be stored already) is kept and the next oldest dropped instead; in order
    order = [s.sighting_id for s in sent]
    assert len(ids) == 10 and ids[-9:] == order[-9:] and ids == sorted(ids, key=order.index)
