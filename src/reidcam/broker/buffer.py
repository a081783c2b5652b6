"""Publish closed sightings without ever blocking the camera loop, and ride out broker outages.

:meth:`SightingPublisher.publish` only appends to a bounded in-memory queue and returns. One
flusher task on the broker loop sends the queue head, waits for the stream's acknowledgement,
and only then drops it from the queue: the sightings reach the stream in the order they closed.
While the broker is away the flusher waits for the reconnect and sends again; the queue keeps at
most ``max_queued`` sightings and drops the oldest past it (never the one being sent), counting them in
:attr:`PublisherStatus.dropped` (for the status page). A send whose answer was lost (the broker
went away after storing it) is sent again and the stream's de-duplication by sighting id
(``Nats-Msg-Id``) stores it once; :attr:`PublisherStatus.duplicates` counts those.

The queue is in memory: a worker that dies loses what it had not sent yet (at most the
sightings of the outage). What the broker acknowledged is on its file store.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from dataclasses import asdict, dataclass

from reidcam.broker.connection import BrokerClient, cancel_and_wait
from reidcam.broker.streams import StreamSettings, ensure_sightings_stream, publish_sighting
from reidcam.broker.wire import ClosedSighting

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublisherStatus:
    """``queued``: waiting to be sent; ``dropped``: oldest sightings dropped because the queue was
    full (lost for good); ``published``: acknowledged by the stream (re-sends included);
    ``duplicates``: re-sends the stream recognised; ``last_error``: why the last send failed
    (redacted), or None once a send succeeds again."""

    queued: int
    dropped: int
    published: int
    duplicates: int
    last_error: str | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class SightingPublisher:
    """A bounded, ordered, reconnect-proof queue of closed sightings to the sightings stream."""

    def __init__(
        self,
        client: BrokerClient,
        max_queued: int | None = None,
        stream_settings: StreamSettings | None = None,
        retry_pause_s: float = 0.2,
    ) -> None:
        self._client = client
        self.max_queued = max_queued if max_queued is not None else client.config.buffer_max_sightings
        if self.max_queued < 1:
            raise ValueError("max_queued must be at least 1")
        self._stream_settings = stream_settings
        self._retry_pause_s = retry_pause_s
        self._queue: deque[ClosedSighting] = deque()
        self._inflight: ClosedSighting | None = None
        self._lock = threading.Lock()
        self._dropped = self._published = self._duplicates = 0
        self._last_error: str | None = None
        self._wake: asyncio.Event | None = None
        self._idle = threading.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    # -- any thread --------------------------------------------------------------------------

    def start(self) -> SightingPublisher:
        self._client.call(self._start())
        return self

    def publish(self, sighting: ClosedSighting) -> None:
        """Queue ``sighting`` for sending; never blocks. Drops the oldest when full."""
        with self._lock:
            self._queue.append(sighting)
            self._idle.clear()
            if len(self._queue) > self.max_queued:
                # The one being sent may already be stored: never count it as dropped.
                if self._queue[0] is self._inflight:
                    del self._queue[1]
                else:
                    self._queue.popleft()
                self._dropped += 1
                if self._dropped == 1 or self._dropped % 1000 == 0:
                    log.warning(
                        "broker away: dropped %d closed sighting(s) so far (queue bound %d)",
                        self._dropped,
                        self.max_queued,
                    )
        self._client.call_soon(self._poke)

    def status(self) -> PublisherStatus:
        with self._lock:
            return PublisherStatus(
                len(self._queue), self._dropped, self._published, self._duplicates, self._last_error
            )

    def flush(self, timeout_s: float) -> bool:
        """Wait until everything queued was acknowledged; False on timeout."""
        return self._idle.wait(timeout_s)

    def close(self, flush_timeout_s: float = 5.0) -> PublisherStatus:
        """Stop after trying to send what is queued for ``flush_timeout_s``; returns the final
        status (``queued`` > 0: those were not sent)."""
        self.flush(flush_timeout_s)
        if self._task is not None:
            self._client.call(self._stop())
        return self.status()

    # -- on the broker loop ------------------------------------------------------------------

    async def _start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="reidcam-sighting-publisher")

    async def _stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _head(self) -> ClosedSighting | None:
        """The next sighting to send, now marked in flight (so an overflow never drops it)."""
        with self._lock:
            if not self._queue:
                self._inflight = None
                self._idle.set()
                return None
            self._inflight = self._queue[0]
            return self._inflight

    async def _run(self) -> None:
        assert self._wake is not None
        await self._ensure_stream()
        while True:
            head = self._head()
            if head is None:
                self._wake.clear()
                if self._head() is None:  # a publish may have slipped in before the clear
                    await self._wake.wait()
                continue
            if await self._send(head):
                with self._lock:
                    self._queue.popleft()  # the head: overflow drops behind the one in flight
            else:
                await self._client.wait_connected()
                await asyncio.sleep(self._retry_pause_s)

    async def _ensure_stream(self) -> None:
        while True:
            await self._client.wait_connected()
            try:
                await ensure_sightings_stream(self._client, self._stream_settings)
                return
            except Exception as exc:
                self._note_error(exc)
                await asyncio.sleep(self._retry_pause_s)

    async def _send(self, s: ClosedSighting) -> bool:
        try:
            result = await publish_sighting(self._client, s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # away, timed out, no responders: keep it and retry
            self._note_error(exc)
            return False
        with self._lock:
            self._published += 1
            self._duplicates += int(result.duplicate)
            self._last_error = None
        return True

    def _note_error(self, exc: BaseException) -> None:
        reason = self._client.scrub(str(exc) or type(exc).__name__)
        with self._lock:
            first = self._last_error is None
            self._last_error = reason
        if first:
            log.warning("cannot publish closed sightings (%s); keeping them queued", reason)
