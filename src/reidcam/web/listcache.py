"""One answer of a polled list route for every client asking within the same half second.

Every open page polls the status each second and the camera, gallery and match lists every
few: twenty pages build and serialize the same sixty gallery cards twenty times a second, on
the event loop, taking the GIL from detection. Here the first client's answer (already JSON)
is kept for ``ttl_s`` and given to the others. What the pipeline changes (new frames, cards,
matches) is at most ``ttl_s`` late, as it would be between two polls anyway; what a client
changes through the API is never late: a write request in progress, or finished since, drops
every kept answer (``WriteTracker``), and so does any change of the live state while the
detection is not running (``version``), which is when a user looks for the effect of a click.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import Request, Response
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

JSON = "application/json"
READS = frozenset({"GET", "HEAD", "OPTIONS"})


class ListCache:
    """Answers keyed by path and query string; all calls on the event loop's thread."""

    def __init__(self, ttl_s: float = 0.5, max_entries: int = 64) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, int, int, bytes]] = {}
        self._generation = 0
        self._writes = 0
        self.hits = 0
        self.misses = 0

    def begin_write(self) -> None:
        self._writes += 1
        self._generation += 1

    def end_write(self) -> None:
        self._writes -= 1
        self._generation += 1

    def answer(self, request: Request, version: int, live: bool, build: Callable[[], BaseModel]) -> Response:
        """The kept answer for this request if still good, else ``build()`` serialized (and kept).

        ``version`` counts changes of the live state; while detection runs (``live``) it moves
        every frame and an answer stays good for ``ttl_s`` regardless, else any change drops it.
        """
        key = f"{request.url.path}?{request.url.query}"
        now = time.monotonic()
        kept = self._entries.get(key)
        if kept is not None:
            at, generation, seen_version, body = kept
            if generation == self._generation and now - at < self.ttl_s and (live or version == seen_version):
                self.hits += 1
                return Response(body, media_type=JSON)
        self.misses += 1
        generation = self._generation
        body = build().model_dump_json().encode()
        if self._writes == 0 and generation == self._generation:
            self._entries.pop(key, None)
            self._entries[key] = (now, generation, version, body)
            while len(self._entries) > self.max_entries:
                del self._entries[next(iter(self._entries))]
        return Response(body, media_type=JSON)


class WriteTracker:
    """ASGI middleware: tells the cache when a request that may change state starts and ends."""

    def __init__(self, app: ASGIApp, cache: ListCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in READS:
            await self.app(scope, receive, send)
            return
        self.cache.begin_write()
        try:
            await self.app(scope, receive, send)
        finally:
            self.cache.end_write()


def cached_list(request: Request, build: Callable[[], BaseModel]) -> Response:
    """``build()``'s answer through the app's list cache (see the module's docstring)."""
    ctrl = request.app.state.controller
    cache: ListCache = request.app.state.list_cache
    return cache.answer(request, ctrl.live.version, ctrl.running, build)
