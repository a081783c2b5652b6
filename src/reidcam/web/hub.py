"""Fan events out from the runner thread to every connected browser.

Each client has a bounded asyncio queue; the runner thread hands events to the
event loop with ``call_soon_threadsafe`` (asyncio queues are not thread-safe).
A slow client loses its oldest events rather than growing memory or slowing
the runner; the UI re-reads the lists it shows, so a lost event costs little.
An event is serialized once, on delivery, to a :class:`Message` holding both its JSON (what the
page's WebSocket sends) and its server-sent-events text, and every client's queue gets the same
object: twenty open pages cost one ``json.dumps`` per event, not twenty.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio

log = logging.getLogger(__name__)

Event = dict[str, Any]


def call_on_loop(
    loop: asyncio.AbstractEventLoop | None, callback: Callable[..., object], *args: object
) -> None:
    """Run ``callback(*args)`` on ``loop`` from any thread; a loop not bound yet or already closed
    (the server starting or stopping) drops the call instead of raising into the runner."""
    if loop is None or loop.is_closed():
        return
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:  # the loop closed between the check and the call
        log.debug("%s dropped: the event loop is closed", getattr(callback, "__name__", "call"))


def sse_message(event: Event) -> str:
    """One ``text/event-stream`` message: ``event: <type>`` and the event as JSON."""
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"


@dataclass(frozen=True)
class Message:
    """One event as every client gets it: ``data`` (its JSON) and ``sse`` (its SSE message)."""

    data: str
    sse: str

    @classmethod
    def of(cls, event: Event) -> Message:
        data = json.dumps(event)
        return cls(data, f"event: {event['type']}\ndata: {data}\n\n")


class EventHub:
    def __init__(self, max_queue: int = 256) -> None:
        self.max_queue = max_queue
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queues: set[asyncio.Queue[Message | None]] = set()
        self.dropped = 0
        self.closed = False

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the server's event loop (called from the app's lifespan)."""
        self._loop = loop
        self.closed = False

    def subscribe(self) -> asyncio.Queue[Message | None]:
        """A new client queue of messages; call from the event loop. ``None`` means: the server stops."""
        q: asyncio.Queue[Message | None] = asyncio.Queue(self.max_queue)
        self._queues.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[Message | None]) -> None:
        self._queues.discard(q)

    @property
    def clients(self) -> int:
        return len(self._queues)

    def publish(self, event: Event) -> None:
        """Send to every client; safe from any thread, never blocks."""
        if not self.closed:
            call_on_loop(self._loop, self._deliver, event)

    def _deliver(self, event: Event | None) -> None:
        if not self._queues:
            return
        message = None if event is None else Message.of(event)
        for q in list(self._queues):
            if q.full():
                q.get_nowait()
                self.dropped += 1
            q.put_nowait(message)

    def close(self) -> None:
        """Tell every client stream to end (server shutdown); call from the event loop."""
        self.closed = True
        self._deliver(None)

    def publish_end(self) -> None:
        """Thread-safe ``close``: end every client stream from any thread."""
        call_on_loop(self._loop, self.close)


class Beacon:
    """ "Something changed" for coroutines on one event loop, rung from any thread.

    The page's WebSocket follows the camera set with it (a camera added or removed in any
    tab): a waiter sleeps until the next ring instead of polling. ``version`` counts rings,
    so a ring between two waits is never missed.
    """

    def __init__(self) -> None:
        self.version = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def ring(self) -> None:
        """Wake every waiter (thread-safe, never blocks)."""
        self.version += 1
        call_on_loop(self._loop, self._wake)

    def _wake(self) -> None:
        event, self._event = self._event, None
        if event is not None:
            event.set()

    async def wait(self, seen: int, timeout_s: float) -> int:
        """Until a ring after version ``seen`` or ``timeout_s``; returns the version now."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new server's loop: an event of the old one cannot be awaited
            self._loop, self._event = loop, None
        if self.version != seen:
            return self.version
        if self._event is None:
            self._event = asyncio.Event()
        event = self._event
        with anyio.move_on_after(timeout_s):  # anyio, not asyncio.wait_for: see web.frames
            await event.wait()
        return self.version
