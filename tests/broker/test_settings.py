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


def _person(name: str, seed: int, label: str = "") -> QueryPerson:
    vecs = np.random.default_rng(seed).standard_normal((2, 8)).astype(np.float32)
    return QueryPerson(name, "osnet_x0_25", vecs, label)


def test_replace_queries_is_compare_and_set(settings):
    from reidcam.broker.errors import SettingChangedError

    assert settings.queries_at() == ((), 0)
    rev = settings.replace_queries([_person("a", 1)], 0)  # 0: only if never set
    with pytest.raises(SettingChangedError):
        settings.replace_queries([_person("b", 2)], 0)
    people, at = settings.queries_at()
    assert at == rev and [p.name for p in people] == ["a"]
    settings.replace_queries([_person("a", 1), _person("b", 2)], rev)
    with pytest.raises(SettingChangedError):  # a writer that read before that write loses
        settings.replace_queries([], rev)
    settings._client.call(settings._kv.delete(QUERIES))
    people, at = settings.queries_at()
    assert people == () and at > rev  # a deleted key is replaced over its delete marker
    settings.replace_queries([_person("c", 3)], at)
    assert [p.name for p in settings.get(QUERIES)] == ["c"]


def test_merge_keeps_both_writers_changes():
    from reidcam.broker.settings import merge_queries

    a, b, c, x = _person("a", 1), _person("b", 2), _person("c", 3), _person("x", 4)
    base = {"a": a, "b": b, "c": c}
    ours = {"a": a, "c": _person("c", 3, "Carol"), "n": _person("n", 5)}  # removed b, relabelled c, added n
    theirs = {"b": b, "c": c, "x": x}  # removed a, added x
    merged = merge_queries(base, ours, theirs)
    assert sorted(merged) == ["c", "n", "x"]
    assert merged["c"].label == "Carol" and merged["x"] is x
    assert merge_queries(base, base, theirs) == theirs  # nothing changed here: theirs as is
    assert merge_queries({}, {"n": ours["n"]}, {}) == {"n": ours["n"]}


def test_query_pictures_travel_with_the_person_unless_too_big(settings, caplog):
    from dataclasses import replace

    small = replace(_person("a", 1), images=(b"\xff\xd8jpeg-a", b"\xff\xd8jpeg-b"))
    settings.replace_queries([small], 0)
    people, rev = settings.queries_at()
    assert people[0].images == small.images
    huge = replace(small, images=(bytes(600 * 1024),))  # past QUERIES_MAX_BYTES once base64'd
    settings.replace_queries([huge], rev)
    (stored,) = settings.get(QUERIES)
    assert stored.images == () and np.array_equal(stored.vectors, huge.vectors)  # the person still goes
    assert "shared without pictures" in caplog.text
