"""The sightings stream on a real nats-server: de-duplication, durable consumer, redelivery."""

from __future__ import annotations

import time

import numpy as np
import pytest
from nats_support import MODEL, make_sighting

from reidcam.broker.streams import (
    STREAM,
    SightingConsumer,
    StreamSettings,
    publish_sighting,
    setup_sightings_stream,
)

pytestmark = pytest.mark.broker


@pytest.fixture
def stream(client):
    setup_sightings_stream(client, StreamSettings(duplicate_window_s=60.0))
    yield client
    client.call(client.js.delete_stream(STREAM))


def test_stream_is_file_backed_work_queue(stream):
    info = stream.call(stream.js.stream_info(STREAM))
    assert str(info.config.storage) in ("file", "StorageType.FILE")
    assert str(info.config.retention) in ("workqueue", "RetentionPolicy.WORK_QUEUE")
    assert info.config.duplicate_window == 60.0
    setup_sightings_stream(stream, StreamSettings(duplicate_window_s=90.0))  # again: updates, no error
    assert stream.call(stream.js.stream_info(STREAM)).config.duplicate_window == 90.0


def test_same_sighting_id_is_stored_once(stream):
    s = make_sighting()
    first = stream.call(publish_sighting(stream, s))
    again = stream.call(publish_sighting(stream, s))
    other = stream.call(publish_sighting(stream, make_sighting(seed=1)))
    assert not first.duplicate and again.duplicate and again.seq == first.seq
    assert other.seq == first.seq + 1
    assert stream.call(stream.js.stream_info(STREAM)).state.messages == 2


def test_consumer_round_trip_ack_and_nak_redelivery(stream):
    sent = [make_sighting(camera_id=f"c{i}", seed=i) for i in range(3)]
    for s in sent:
        stream.call(publish_sighting(stream, s))
    consumer = SightingConsumer(stream, expect_model_id=MODEL).start()
    got = consumer.fetch(batch=10, timeout_s=1.0)
    assert [d.sighting.sighting_id for d in got] == [s.sighting_id for s in sent]
    assert np.array_equal(got[0].sighting.prototype, sent[0].prototype)
    assert all(d.num_delivered == 1 for d in got)
    got[0].ack()
    got[1].ack()
    got[2].nak()
    again = consumer.fetch(batch=10, timeout_s=1.0)
    assert [(d.sighting.sighting_id, d.num_delivered) for d in again] == [(sent[2].sighting_id, 2)]
    again[0].ack()
    assert consumer.fetch(batch=10, timeout_s=0.2) == []
    # work-queue retention: acked sightings leave the stream
    _wait(lambda: stream.call(stream.js.stream_info(STREAM)).state.messages == 0)
    consumer.stop()


def test_unacked_sighting_is_redelivered_after_ack_wait(stream):
    s = make_sighting()
    stream.call(publish_sighting(stream, s))
    reader = SightingConsumer(stream, expect_model_id=MODEL, ack_wait_s=1.0).start()
    assert [d.sighting.sighting_id for d in reader.fetch(timeout_s=1.0)] == [s.sighting_id]
    delivered_at = time.monotonic()  # the ack wait runs from the delivery, not from the stop below
    reader.stop()  # "dies" without acking
    second = SightingConsumer(stream, expect_model_id=MODEL, ack_wait_s=1.0).start()
    got: list = []
    while not got and time.monotonic() - delivered_at < 5.0:
        got = second.fetch(timeout_s=0.5)
    assert [(d.sighting.sighting_id, d.num_delivered) for d in got] == [(s.sighting_id, 2)]
    assert time.monotonic() - delivered_at >= 0.5, "not delivered again before its ack wait"
    got[0].ack()


def test_sighting_of_another_model_is_refused_not_delivered(stream, caplog):
    stream.call(publish_sighting(stream, make_sighting(model_id="resnet50", camera_id="yard")))
    good = make_sighting(seed=2)
    stream.call(publish_sighting(stream, good))
    consumer = SightingConsumer(stream, expect_model_id=MODEL, ack_wait_s=1.0).start()
    got = consumer.fetch(batch=10, timeout_s=1.0)
    assert [d.sighting.sighting_id for d in got] == [good.sighting_id]
    got[0].ack()
    assert consumer.stats.rejected == 1 and consumer.stats.delivered == 1
    assert "resnet50" in (consumer.stats.last_rejection or "") and "never compared" in caplog.text
    # terminated: not redelivered after the ack wait
    time.sleep(1.2)
    assert consumer.fetch(timeout_s=0.3) == []
    consumer.stop()


def _wait(cond, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)
