"""Whole-bucket reads on a real nats-server: complete even when nats-py's "no more values" marker
comes first (the race that made a loaded worker read an empty registry and drop its cameras)."""

from __future__ import annotations

from typing import Any

import pytest

from reidcam.broker.connection import BrokerClient
from reidcam.broker.errors import BrokerError
from reidcam.broker.kv import open_bucket, read_bucket

pytestmark = pytest.mark.broker


class MarkerFirst:
    """A bucket whose watchers get nats-py's ``None`` marker before any value, as they do when
    the consumer info answers before the subscription counted the values already sent."""

    def __init__(self, kv: Any, watch_key: str = ">") -> None:
        self._kv = kv
        self._stream = kv._stream
        self._name = kv._name
        self._watch_key = watch_key

    async def watchall(self, **kwargs: Any) -> Any:
        watcher = await self._kv.watch(self._watch_key, **kwargs)
        watcher._updates.put_nowait(None)
        return watcher


async def marker_read(kv: Any) -> dict[str, bytes]:
    """The read that trusts the marker (what the registry did before)."""
    watcher = await kv.watchall(ignore_deletes=True)
    out: dict[str, bytes] = {}
    try:
        async for entry in watcher:
            if entry is None:
                break
            out[entry.key] = entry.value
    finally:
        await watcher.stop()
    return out


@pytest.fixture
def bucket(client: BrokerClient):
    kv = client.call(open_bucket(client, "test-kv-read", None))
    try:
        yield kv
    finally:
        client.call(client.js.delete_key_value("test-kv-read"))


def test_a_marker_that_comes_first_does_not_end_the_read(client: BrokerClient, bucket: Any) -> None:
    for i in range(3):
        client.call(bucket.put(f"cam{i}", f"v{i}".encode()))
    racy = MarkerFirst(bucket)
    assert client.call(marker_read(racy)) == {}, "the simulated race must fool a marker read"
    assert client.call(read_bucket(client, racy)) == {"cam0": b"v0", "cam1": b"v1", "cam2": b"v2"}


def test_latest_values_without_deleted_or_purged_keys(client: BrokerClient, bucket: Any) -> None:
    for i in range(300):  # more than nats-py's watcher queue holds (256)
        client.call(bucket.put(f"k{i}", b"old"))
    client.call(bucket.put("k1", b"new"))
    client.call(bucket.delete("k2"))
    client.call(bucket.purge("k3"))
    client.call(bucket.delete("k299"))  # the bucket's last message is a delete marker
    got = client.call(read_bucket(client, MarkerFirst(bucket)))
    assert len(got) == 297
    assert got["k1"] == b"new" and got["k0"] == b"old"
    assert not {"k2", "k3", "k299"} & set(got)


def test_an_empty_bucket_reads_empty_at_once(client: BrokerClient, bucket: Any) -> None:
    assert client.call(read_bucket(client, MarkerFirst(bucket), timeout_s=0.5)) == {}
    client.call(bucket.put("a", b"1"))
    client.call(bucket.delete("a"))
    assert client.call(read_bucket(client, bucket, timeout_s=0.5)) == {}


def test_a_read_that_cannot_finish_is_an_error_not_a_partial_answer(
    client: BrokerClient, bucket: Any
) -> None:
    client.call(bucket.put("a", b"1"))
    client.call(bucket.put("b", b"2"))
    deaf = MarkerFirst(bucket, watch_key="a")  # never delivers "b", the last value
    with pytest.raises(BrokerError, match="not every value arrived"):
        client.call(read_bucket(client, deaf, timeout_s=0.5))


def test_a_bucket_with_another_ttl_is_refused_naming_the_setting(client: BrokerClient) -> None:
    client.call(open_bucket(client, "test-kv-ttl", 5.0))
    try:
        with pytest.raises(
            BrokerError, match=r"TTL of 5.0 s, this process is set to 7.0 s.*broker.lease_ttl_s"
        ):
            client.call(open_bucket(client, "test-kv-ttl", 7.0, "broker.lease_ttl_s"))
        with pytest.raises(BrokerError, match="the same TTL for it"):
            client.call(open_bucket(client, "test-kv-ttl", 7.0))
    finally:
        client.call(client.js.delete_key_value("test-kv-ttl"))
