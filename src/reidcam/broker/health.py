"""Process health in the KV bucket ``reidcam-health``, for the page's status panel.

Each worker puts its status (JSON) under ``worker.<name>``, each memory service under
``memory.<name>``, every ``HEALTH_EVERY_S``. The bucket's TTL is ``HEALTH_TTL_S`` (three
periods): a process that dies without a word vanishes from the bucket by itself, one that
stops cleanly deletes its key at once. No secret goes in: callers put ``BrokerClient.status()``
(a redacted URL), never the config.

Why KV and not a subject: a web server that starts later reads every process's last word at
once (``read_health``), and the TTL tells the dead from the living without a heartbeat protocol.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from reidcam.broker.connection import BrokerClient, cancel_and_wait
from reidcam.broker.kv import open_bucket, read_bucket

log = logging.getLogger(__name__)

HEALTH_BUCKET = "reidcam-health"
#: How often a process puts its health.
HEALTH_EVERY_S = 2.0
#: The bucket's TTL: a key not refreshed for three periods is gone (its process is dead).
HEALTH_TTL_S = 3 * HEALTH_EVERY_S
_BAD = re.compile(r"[^A-Za-z0-9_-]+")


def health_key(kind: str, name: str) -> str:
    """``worker.<name>`` / ``memory.<name>``; characters a NATS key cannot hold become ``_``
    (a host name's dots too, so the kind is always the part before the first dot)."""
    return f"{_BAD.sub('_', kind)}.{_BAD.sub('_', name) or '_'}"


class HealthReporter:
    """Puts ``snapshot()`` as JSON under ``key`` every ``every_s`` (a task on the broker loop).

    ``snapshot`` runs on the broker loop: it must be quick and thread-safe. A put that fails
    (broker away) is retried on the next period; nothing is queued.
    """

    def __init__(
        self,
        client: BrokerClient,
        key: str,
        snapshot: Callable[[], dict[str, object]],
        every_s: float = HEALTH_EVERY_S,
        ttl_s: float = HEALTH_TTL_S,
    ) -> None:
        if every_s <= 0 or ttl_s <= every_s:
            raise ValueError("health: every_s must be > 0 and the TTL longer than the period")
        self.client = client
        self.key = key
        self.snapshot = snapshot
        self.every_s = every_s
        self.ttl_s = ttl_s
        self.puts = 0
        self.failures = 0
        self._kv: Any = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> HealthReporter:
        self._kv = self.client.call(open_bucket(self.client, HEALTH_BUCKET, self.ttl_s))
        self.client.call(self._start())
        return self

    async def _start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"reidcam-health-{self.key}")

    async def _run(self) -> None:
        while True:
            try:
                await self._kv.put(self.key, _encode(self.snapshot()))
                self.puts += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker away: the next period tries again
                self.failures += 1
                log.debug("health %s: %s", self.key, self.client.scrub(str(exc)))
            await asyncio.sleep(self.every_s)

    def stop(self, delete: bool = True, timeout_s: float = 3.0) -> None:
        """Stop putting; ``delete``: remove the key now (a clean stop), else it lapses by TTL."""
        if self._task is None:
            return
        try:
            self.client.call(self._stop(delete), timeout=timeout_s)
        except Exception as exc:  # broker away: the key lapses by TTL
            log.debug("health %s: stopping: %s", self.key, self.client.scrub(str(exc)))

    async def _stop(self, delete: bool) -> None:
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)
        if delete:
            await self._kv.delete(self.key)


def read_health(client: BrokerClient, ttl_s: float = HEALTH_TTL_S) -> dict[str, dict[str, Any]]:
    """Every live process's health: key (``worker.<name>``, ``memory.<name>``) -> its JSON.

    Opens (or creates) the bucket with the same TTL as the reporters. An unreadable value is
    skipped with a debug line.
    """
    return client.call(read_health_async(client, ttl_s))


async def read_health_async(client: BrokerClient, ttl_s: float = HEALTH_TTL_S) -> dict[str, dict[str, Any]]:
    """(On the loop.) ``read_health`` for code already on the broker loop."""
    kv = await open_bucket(client, HEALTH_BUCKET, ttl_s)
    out: dict[str, dict[str, Any]] = {}
    for key, raw in sorted((await read_bucket(client, kv)).items()):
        try:
            value = json.loads(raw or b"")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            log.debug("health %s: not JSON: %s", key, exc)
            continue
        if isinstance(value, dict):
            out[key] = value
    return out


def _encode(value: dict[str, object]) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=str).encode()
