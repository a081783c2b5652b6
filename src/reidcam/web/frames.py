"""Wake a camera's MJPEG viewers when its next frame arrives, and encode it once for all of them.

Why not let each stream poll: twenty viewers that each sleep 1/fps wake the event loop two
hundred times a second at twenty different moments, and every wake-up is a context switch on
the cores detection runs on. Here the runner thread signals "camera X has a new frame" (one
``call_soon_threadsafe`` per frame, and none while nobody watches), every viewer of X wakes in
the same loop turn, and the first one to need the JPEG starts its encoding on a worker thread
while the others await that same encoding instead of each taking a thread hop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import anyio
from fastapi.concurrency import run_in_threadpool

from reidcam.web.hub import call_on_loop

Jpeg = tuple[int, bytes]


class FrameSignal:
    """Per-camera "a new frame is here" for coroutines on one event loop, set from any thread."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._events: dict[str, asyncio.Event] = {}
        self._watchers = 0
        self._lock = threading.Lock()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the server's event loop (called from the app's lifespan)."""
        self._loop = loop
        self._events.clear()

    def notify(self, camera_id: str) -> None:
        """A new frame of ``camera_id`` (thread-safe, never blocks; free while nobody watches)."""
        with self._lock:
            if self._watchers == 0:
                return
        call_on_loop(self._loop, self._wake, camera_id)

    def _wake(self, camera_id: str) -> None:
        event = self._events.pop(camera_id, None)
        if event is not None:
            event.set()

    async def wait(self, camera_id: str, timeout_s: float) -> bool:
        """Until the next ``notify(camera_id)`` or ``timeout_s``; True if a frame came."""
        event = self._events.get(camera_id)
        if event is None:
            event = self._events[camera_id] = asyncio.Event()
        # anyio's timeout, not asyncio.wait_for: Starlette cancels streams with anyio cancel
        # scopes, and mixing the two cancelled generators spuriously.
        with anyio.move_on_after(timeout_s):
            await event.wait()
        return event.is_set()

    @property
    def watchers(self) -> int:
        """How many viewers wait for frames now (the distributed mode asks workers for pictures
        only while there are some)."""
        with self._lock:
            return self._watchers

    def watching(self, delta: int) -> None:
        """One more (+1) or one less (-1) viewer; with none, ``notify`` costs nothing."""
        with self._lock:
            self._watchers = max(0, self._watchers + delta)


class SharedEncoder:
    """One encoding of a frame, awaited by every viewer that wants it (on one event loop)."""

    def __init__(self, encode: Callable[[str], Jpeg | None]) -> None:
        self._encode = encode
        self._pending: dict[str, asyncio.Future[Jpeg | None]] = {}

    async def jpeg(self, camera_id: str) -> Jpeg | None:
        """The newest frame's (seq, JPEG); the encoding runs on a worker thread, once."""
        pending = self._pending.get(camera_id)
        if pending is None:
            pending = asyncio.ensure_future(run_in_threadpool(self._encode, camera_id))
            self._pending[camera_id] = pending
            pending.add_done_callback(lambda done: self._forget(camera_id, done))
        # Shielded: a viewer that goes away must not cancel the encoding the others await.
        return await asyncio.shield(pending)

    def _forget(self, camera_id: str, done: asyncio.Future[Jpeg | None]) -> None:
        if self._pending.get(camera_id) is done:
            del self._pending[camera_id]
