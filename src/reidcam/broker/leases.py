"""Camera leases and the camera registry in JetStream key-value buckets.

A camera is processed by one worker at a time (its tracker needs that camera's frames in order).
The lease is the key ``<camera_id>`` in the bucket ``reidcam-leases``, whose TTL is the lease
time (NATS 2.9 has a TTL per bucket, not per key: every holder must use the same
``broker.lease_ttl_s``):

- take: ``create`` the key, which succeeds only when no live lease exists (compare-and-set on
  "no revision"); two holders racing for a camera: exactly one wins;
- renew: ``update`` with the revision this holder wrote last; fails once someone else holds it
  or it lapsed, so a stale holder learns it lost the camera instead of overwriting the owner;
- lapse: a holder that stops renewing (crashed, partitioned) loses the key after the TTL, and
  another holder's ``create`` then succeeds;
- release: ``delete`` with the holder's revision on a clean stop, so the camera moves at once.

:class:`LeaseKeeper` renews every held lease each ``ttl/3`` on the broker loop and reports a
lost one through a callback. The registry (``reidcam-cameras``, no TTL) lists which cameras
exist, for workers to lease and for the page to add and remove.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reidcam.broker.connection import BrokerClient, cancel_and_wait
from reidcam.broker.errors import BrokerError, LeaseLostError
from reidcam.broker.kv import BucketWatch, deleted, last_sequence, open_bucket, read_bucket

log = logging.getLogger(__name__)

LEASE_BUCKET = "reidcam-leases"
REGISTRY_BUCKET = "reidcam-cameras"
_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")


def camera_key(camera_id: str) -> str:
    """The KV key of a camera: its id, which must be a valid NATS key (no leading, trailing or
    double dot).

    Raises:
        BrokerError: the id cannot be a key.
    """
    if not _KEY_RE.match(camera_id):
        raise BrokerError(
            f"camera id {camera_id!r} cannot be used on the broker: use A-Z a-z 0-9 _ - and single dots"
        )
    return camera_id


@dataclass(frozen=True)
class Lease:
    """A held camera: ``revision`` is the KV revision this holder wrote last (the CAS token)."""

    camera_id: str
    holder: str
    revision: int
    acquired_at: float


class CameraLeases:
    """Take, renew and release camera leases as ``holder`` (a unique worker name)."""

    def __init__(self, client: BrokerClient, holder: str, ttl_s: float | None = None) -> None:
        if not holder:
            raise ValueError("a lease holder needs a name")
        self.client = client
        self.holder = holder
        self.ttl_s = ttl_s if ttl_s is not None else client.config.lease_ttl_s
        self._kv: Any = None

    def open(self) -> CameraLeases:
        self._kv = self.client.call(open_bucket(self.client, LEASE_BUCKET, self.ttl_s, "broker.lease_ttl_s"))
        return self

    def _value(self) -> bytes:
        return json.dumps({"holder": self.holder, "at": time.time()}).encode()

    async def acquire_async(self, camera_id: str) -> Lease | None:
        """(On the loop.) Take the camera if nobody holds it; None if someone does."""
        from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

        key = camera_key(camera_id)
        for _ in range(3):
            try:
                rev = await self._kv.create(key, self._value())
            except KeyWrongLastSequenceError:
                return None
            except KeyNotFoundError:
                # nats-py's create() looks the key up after a refused CAS; the lease lapsed in
                # between (seen at the lapse moment in the takeover test): try again.
                continue
            return Lease(camera_id, self.holder, int(rev), time.time())
        return None

    async def renew_async(self, lease: Lease) -> Lease:
        """(On the loop.) Extend ``lease`` by a TTL. Raises LeaseLostError if it is not ours any more."""
        from nats.js.errors import KeyWrongLastSequenceError

        try:
            rev = await self._kv.update(camera_key(lease.camera_id), self._value(), last=lease.revision)
        except KeyWrongLastSequenceError as exc:
            raise LeaseLostError(
                f"lost the lease of camera {lease.camera_id!r}: it lapsed or another worker holds it"
            ) from exc
        return Lease(lease.camera_id, lease.holder, int(rev), lease.acquired_at)

    async def release_async(self, lease: Lease) -> bool:
        """(On the loop.) Give the camera back; False if it was not ours any more."""
        from nats.js.errors import APIError

        try:
            await self._kv.delete(camera_key(lease.camera_id), last=lease.revision)
        except APIError:  # wrong last sequence: someone else holds it now; leave it alone
            return False
        return True

    async def owner_async(self, camera_id: str) -> str | None:
        from nats.js.errors import KeyDeletedError, KeyNotFoundError

        try:
            entry = await self._kv.get(camera_key(camera_id))
        except (KeyNotFoundError, KeyDeletedError):
            return None
        return str(json.loads(entry.value)["holder"]) if entry.value else None

    def acquire(self, camera_id: str) -> Lease | None:
        return self.client.call(self.acquire_async(camera_id))

    def renew(self, lease: Lease) -> Lease:
        return self.client.call(self.renew_async(lease))

    def release(self, lease: Lease) -> bool:
        return self.client.call(self.release_async(lease))

    def owner(self, camera_id: str) -> str | None:
        """The holder of the camera's live lease, or None."""
        return self.client.call(self.owner_async(camera_id))


class LeaseKeeper:
    """Keeps a holder's leases alive: renews each every ``ttl/3`` on the broker loop.

    ``on_lost(camera_id, reason)`` is called (on the broker loop: keep it short, hand work to
    your own thread) when a renewal finds the lease gone; the camera must then be stopped,
    since another worker may already run it. A renewal that fails because the broker is away is
    retried; the lease lapses on the broker's side after the TTL all the same.
    """

    def __init__(self, leases: CameraLeases, on_lost: Callable[[str, str], None]) -> None:
        self._leases = leases
        self._client = leases.client
        self._on_lost = on_lost
        self._held: dict[str, Lease] = {}
        self._task: asyncio.Task[None] | None = None
        # A renewal round is never cut in half by a release or a stop: a renewal cancelled after
        # the broker applied it would leave a stale revision, and the release then fails (the
        # lease stayed held until its TTL after a clean stop, seen in the worker tests).
        self._round: asyncio.Lock | None = None

    def start(self) -> LeaseKeeper:
        self._client.call(self._start())
        return self

    async def _start(self) -> None:
        self._round = asyncio.Lock()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="reidcam-lease-keeper")

    def _lock(self) -> asyncio.Lock:
        if self._round is None:
            self._round = asyncio.Lock()
        return self._round

    def take(self, camera_id: str) -> bool:
        """Try to lease ``camera_id``; True when this holder has it now."""
        return bool(self._client.call(self._take(camera_id)))

    async def _take(self, camera_id: str) -> bool:
        if camera_id in self._held:
            return True
        lease = await self._leases.acquire_async(camera_id)
        if lease is not None:
            self._held[camera_id] = lease
        return lease is not None

    def held(self) -> list[str]:
        return sorted(self._client.call(self._held_ids()))

    async def _held_ids(self) -> list[str]:
        return list(self._held)

    def release(self, camera_id: str) -> None:
        self._client.call(self._release(camera_id))

    async def _release(self, camera_id: str) -> None:
        async with self._lock():
            lease = self._held.pop(camera_id, None)
            if lease is not None:
                await self._leases.release_async(lease)

    def stop(self) -> None:
        """Clean stop: stop renewing and release every held lease (the cameras move at once)."""
        self._client.call(self._stop())

    async def _stop(self) -> None:
        if self._task is not None:
            async with self._lock():  # between rounds: no renewal is in flight
                self._task.cancel()
            await cancel_and_wait(self._task)
            self._task = None
        for camera_id in list(self._held):
            try:
                await self._release(camera_id)
            except Exception as exc:  # broker away: the lease lapses after its TTL instead
                log.warning("could not release camera %s: %s", camera_id, self._client.scrub(str(exc)))

    async def _run(self) -> None:
        period = self._leases.ttl_s / 3.0
        while True:
            await asyncio.sleep(period)
            async with self._lock():
                for camera_id, lease in list(self._held.items()):
                    await self._renew_one(camera_id, lease)

    async def _renew_one(self, camera_id: str, lease: Lease) -> None:
        try:
            self._held[camera_id] = await self._leases.renew_async(lease)
        except LeaseLostError as exc:
            self._held.pop(camera_id, None)
            log.warning("%s", exc)
            self._on_lost(camera_id, str(exc))
        except Exception as exc:  # broker away: try again next period
            log.debug("renewing camera %s: %s", camera_id, self._client.scrub(str(exc)))


class CameraRegistry:
    """Which cameras exist: ``camera_id`` -> its settings (a JSON object), in ``reidcam-cameras``.

    Never store a secret in a camera's settings here: every client of the broker can read the
    bucket. Keep ``${ENV}`` references in source URLs and expand them on the worker.
    """

    def __init__(self, client: BrokerClient) -> None:
        self._client = client
        self._kv: Any = None

    def open(self) -> CameraRegistry:
        self._kv = self._client.call(open_bucket(self._client, REGISTRY_BUCKET, None))
        return self

    def put(self, camera_id: str, settings: dict[str, object]) -> int:
        data = json.dumps(settings, sort_keys=True).encode()
        return int(self._client.call(self._kv.put(camera_key(camera_id), data)))

    def remove(self, camera_id: str) -> None:
        self._client.call(self._kv.delete(camera_key(camera_id)))

    def cameras(self) -> dict[str, dict[str, object]]:
        return dict(self._client.call(self._all()))

    def follow(self, on_change: Callable[[], None] = lambda: None) -> RegistryWatch:
        """The registry kept current by one long-lived watch (``RegistryWatch``); ``on_change()``
        is called on the broker loop after each change."""
        w = RegistryWatch(self._client, self._kv, on_change)
        self._client.call(w._start())
        return w

    async def _all(self) -> dict[str, dict[str, object]]:
        """Every camera's latest value in one pass of one short-lived consumer (``kv.read_bucket``:
        complete, or an error; never the empty answer that made a worker drop its cameras)."""
        values = await read_bucket(self._client, self._kv)
        return {key: json.loads(value) for key, value in values.items() if value}


class RegistryWatch(BucketWatch):
    """The camera registry as a local copy that one watch keeps current.

    A worker and a web server used to read the whole registry every second (a consumer created
    and dropped each time, per process); this watch costs one consumer per process and brings a
    change at once. On each new broker connection the watch is made again and the copy rebuilt
    from what the bucket holds then (a camera removed while the broker was away goes too). Until
    the first complete read :meth:`cameras` raises; while the broker is away it answers the last
    complete copy. Complete as ``read_bucket`` is: up to the stream's last sequence taken once
    the consumer exists, never nats-py's "no more values" marker.
    """

    name = "reidcam-registry-watch"

    def __init__(self, client: BrokerClient, kv: Any, on_change: Callable[[], None]) -> None:
        super().__init__(client, kv)
        self._on_change = on_change
        self._cameras: dict[str, dict[str, object]] | None = None
        self._cond = threading.Condition()

    def cameras(self) -> dict[str, dict[str, object]]:
        """The registry now (camera id -> its settings).

        Raises:
            BrokerError: it was never read completely yet (the broker was away since the start).
        """
        with self._cond:
            if self._cameras is None:
                raise BrokerError("the camera registry has not been read yet (the broker is away)")
            return dict(self._cameras)

    def wait_until(self, check: Callable[[dict[str, dict[str, object]]], bool], timeout_s: float) -> bool:
        """Wait until ``check(cameras)`` holds (a write of this process has come back); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._cameras is not None and check(self._cameras), timeout_s)

    async def _follow(self, watcher: Any, generation: int) -> None:
        """Rebuild the copy from this watcher; publish it once complete, then every change."""
        complete_at = await last_sequence(self._client, self._kv)
        fresh: dict[str, dict[str, object]] = {}
        ready = complete_at == 0
        if ready:
            self._publish(fresh)
        async for entry in self._entries(watcher, generation):
            self._apply(fresh, entry)
            if not ready and entry.revision >= complete_at:
                ready = True
            if ready:
                self._publish(fresh)

    def _apply(self, cameras: dict[str, dict[str, object]], entry: Any) -> None:
        if deleted(entry) or not entry.value:
            cameras.pop(entry.key, None)
            return
        try:
            cameras[entry.key] = json.loads(entry.value)
        except ValueError as exc:
            log.error("camera registry entry %r is not JSON: %s", entry.key, exc)

    def _publish(self, cameras: dict[str, dict[str, object]]) -> None:
        with self._cond:
            changed = cameras != self._cameras
            self._cameras = dict(cameras)
            self._cond.notify_all()
        if changed:
            try:
                self._on_change()
            except Exception:  # a failing callback must not end the watch
                log.exception("camera registry watch: the change callback failed")
