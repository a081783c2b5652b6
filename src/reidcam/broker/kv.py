"""JetStream key-value buckets: open one, and read every key of one completely.

Why not ``kv.keys()`` or a watcher's "no more values" marker: nats-py sends that marker when
the consumer's info says nothing is pending and its subscription has counted no message yet.
Under CPU load the values can already be on their way while the count is still 0, and the
marker then comes *first*: the read looks like an empty bucket (5 to 10 reads in 2,000 under
three busy loops on 2 cores, ``benchmarks/kv_read.py``). A worker that read an empty camera
registry let go of every camera. :func:`read_bucket` does not use the marker: it asks the
stream for its last sequence once the watcher exists, and reads until it has seen that one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from reidcam.broker.connection import BrokerClient, cancel_and_wait
from reidcam.broker.errors import BrokerError

log = logging.getLogger(__name__)

#: how long the server keeps a read's consumer once the read is done (seconds)
READ_INACTIVE_S = 2.0


async def open_bucket(client: BrokerClient, name: str, ttl_s: float | None, ttl_setting: str = "") -> Any:
    """(On the loop.) Open or create a file-backed KV bucket, checking an existing one's TTL.

    ``ttl_setting``: the setting that gives ``ttl_s``, named in the mismatch error.
    """
    from nats.js.api import KeyValueConfig, StorageType
    from nats.js.errors import BucketNotFoundError

    try:
        kv = await client.js.key_value(name)
    except BucketNotFoundError:
        config = KeyValueConfig(bucket=name, history=1, ttl=ttl_s, storage=StorageType.FILE)
        return await client.js.create_key_value(config)
    have = (await kv.status()).ttl or None
    if ttl_s is not None and (have is None or abs(have - ttl_s) > 1e-3):
        same = f"the same {ttl_setting}" if ttl_setting else "the same TTL for it"
        raise BrokerError(
            f"the broker's {name} bucket has a TTL of {have} s, this process is set to {ttl_s} s: "
            f"every process must use {same} (or delete the bucket to change it)"
        )
    return kv


async def last_sequence(client: BrokerClient, kv: Any) -> int:
    """(On the loop.) The sequence a watcher made *before* this call has read the bucket
    completely at: the stream's last one, or 0 when it holds nothing (module docstring)."""
    state = (await client.js.stream_info(kv._stream)).state
    return 0 if state.messages == 0 else int(state.last_seq)


async def read_bucket(client: BrokerClient, kv: Any, timeout_s: float | None = None) -> dict[str, bytes]:
    """(On the loop.) Every live key's latest value (deleted and purged keys left out).

    One short-lived ordered consumer delivers the last value per key in stream order; the
    read ends at the stream's last sequence taken *after* the consumer exists, so every key
    written before the call is in the answer (a later write may be too).

    Raises:
        BrokerError: the values did not all arrive within ``timeout_s`` (default
            ``broker.request_timeout_s``); the caller keeps what it had rather than act on a
            partial read.
    """
    import nats.errors

    limit = client.config.request_timeout_s if timeout_s is None else timeout_s
    deadline = time.monotonic() + limit
    watcher = await kv.watchall(inactive_threshold=READ_INACTIVE_S)
    out: dict[str, bytes] = {}
    try:
        complete_at = await last_sequence(client, kv)
        if complete_at == 0:
            return out
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrokerError(
                    f"reading the {kv._name} bucket: not every value arrived within {limit:.1f} s "
                    f"(up to sequence {complete_at}); try again"
                )
            try:
                entry = await watcher.updates(timeout=left)
            except nats.errors.TimeoutError:
                continue  # the deadline check above raises
            if entry is None:  # nats-py's "no more values" marker: not trusted (module docstring)
                continue
            if deleted(entry):
                out.pop(entry.key, None)
            elif entry.value is not None:
                out[entry.key] = entry.value
            if entry.revision >= complete_at:
                return out
    finally:
        with contextlib.suppress(Exception):  # the connection it was made on is gone
            await watcher.stop()


class BucketWatch:
    """A long-lived watch of one bucket on the broker loop, made again on each new connection
    (the subscription of the old one went with it). Subclasses follow the entries in
    :meth:`_follow`; an error there is logged and the watch is made again."""

    name = "reidcam-watch"

    def __init__(self, client: BrokerClient, kv: Any) -> None:
        self._client = client
        self._kv = kv
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def stop(self) -> None:
        self._client.call(self._stop())

    async def _start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def _stop(self) -> None:
        self._stopping = True  # also ends the loops should a cancellation be swallowed
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            await self._client.wait_connected()
            generation = self._client.generation
            try:
                watcher = await self._kv.watchall()
            except Exception as exc:
                log.debug("%s: %s; retrying", self.name, self._client.scrub(str(exc)))
                await asyncio.sleep(0.5)
                continue
            try:
                await self._follow(watcher, generation)
            except Exception as exc:  # e.g. the broker went away mid-way: watch again
                log.debug("%s: %s; watching again", self.name, self._client.scrub(str(exc)))
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):  # the connection it was made on is gone
                    await watcher.stop()

    async def _follow(self, watcher: Any, generation: int) -> None:
        raise NotImplementedError

    async def _entries(self, watcher: Any, generation: int) -> AsyncIterator[Any]:
        """The watcher's entries until the connection is replaced (nats-py's marker left out)."""
        import nats.errors

        while self._client.generation == generation and not self._stopping:
            try:
                entry = await watcher.updates(timeout=1.0)
            except nats.errors.TimeoutError:
                continue
            if entry is not None:
                yield entry


def deleted(entry: Any) -> bool:
    """A watch entry that removes its key (a delete or purge marker)."""
    return entry.operation is not None and str(entry.operation).endswith(("DEL", "PURGE"))
