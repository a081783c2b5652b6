"""Shared settings in KV: typed values, a watch that sees every change, across a broker restart."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from nats_support import broker_config

from reidcam.broker.connection import BrokerClient
from reidcam.broker.errors import BrokerError
from reidcam.broker.settings import (
    QUERIES,
    SETTINGS_BUCKET,
    THRESHOLD,
    QueryPerson,
    SharedSettings,
    decode_setting,
)

pytestmark = pytest.mark.broker


class Seen:
    """Collects watch callbacks (called on the broker loop) for the test thread."""

    def __init__(self) -> None:
        self.items: list[tuple[str, object]] = []
        self._cond = threading.Condition()

    def __call__(self, key: str, value: object) -> None:
        with self._cond:
            self.items.append((key, value))
            self._cond.notify_all()

    def wait_for(self, pred, timeout_s: float = 5.0) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: any(pred(k, v) for k, v in self.items), timeout_s), self.items


@pytest.fixture
def settings(client):
    yield SharedSettings(client).open()
    client.call(client.js.delete_key_value(SETTINGS_BUCKET))


def test_threshold_and_queries_round_trip(settings):
    assert settings.get(THRESHOLD) is None
    settings.set_threshold(0.62)
    vecs = np.random.default_rng(1).standard_normal((3, 16)).astype(np.float32)
    settings.set_queries([QueryPerson("alice", "osnet_x0_25", vecs)])
    assert settings.get(THRESHOLD) == 0.62
    (alice,) = settings.get(QUERIES)
    assert alice.name == "alice" and np.array_equal(alice.vectors, vecs)


@pytest.mark.parametrize("bad", [1.5, float("nan"), True])
def test_bad_threshold_is_refused_before_writing(settings, bad):
    with pytest.raises(ValueError, match="threshold"):
        settings.set_threshold(bad)
    assert settings.get(THRESHOLD) is None


def test_watch_delivers_current_value_then_changes(settings, client):
    settings.set_threshold(0.5)
    seen = Seen()
    watch = settings.watch(seen)
    seen.wait_for(lambda k, v: (k, v) == (THRESHOLD, 0.5))
    settings.set_threshold(0.7)
    seen.wait_for(lambda k, v: (k, v) == (THRESHOLD, 0.7))
    # a bad value written by someone else is reported, not delivered, and the watch goes on
    client.call(settings._kv.put(THRESHOLD, b'"high"'))
    settings.set_threshold(0.71)
    seen.wait_for(lambda k, v: (k, v) == (THRESHOLD, 0.71))
    assert watch.errors == 1 and all(v != "high" for _, v in seen.items)
    watch.stop()
    with pytest.raises(BrokerError, match="not valid"):
        decode_setting(THRESHOLD, b'"high"')
    with pytest.raises(BrokerError, match="unknown shared setting"):
        decode_setting("colour", b"1")


def test_watch_follows_changes_made_after_a_broker_restart(own_nats_server):
    with (
        BrokerClient(broker_config(own_nats_server.url)) as c,
        BrokerClient(broker_config(own_nats_server.url)) as writer_client,
    ):
        seen = Seen()
        SharedSettings(c).open().watch(seen)
        writer = SharedSettings(writer_client).open()
        writer.set_threshold(0.4)
        seen.wait_for(lambda k, v: v == 0.4)
        own_nats_server.restart()
        deadline = time.monotonic() + 10
        while not (c.connected and writer_client.connected):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        writer.set_threshold(0.45)
        seen.wait_for(lambda k, v: v == 0.45, timeout_s=10)
