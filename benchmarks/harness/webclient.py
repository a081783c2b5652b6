"""A browser-like client of the web app, for the soak and load benchmarks (asyncio).

It does what an open page does: polls the status every second and the cameras, gallery and
matches lists every ``lists_s`` (1 s by default; the real page asks for them every 5 s), keeps
the page's one WebSocket (``/api/live``: every watched camera's frames and the events) open,
reading and discarding, and, when asked, picks a gallery crop as the query once crops exist.
``transport="mjpeg"`` instead holds what the page held before issue #13 (the event stream and
one MJPEG stream per camera), for comparison. Every request and stream fault is counted: the
benchmarks report them, a healthy server has none. The HTTP is ``harness.rawhttp``'s: on
the server's own cores, the client must cost as little as a browser's native networking would;
the WebSocket is the ``websockets`` package's (a dependency of the server).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.rawhttp import Connection, HttpError, MarkerCounter, stream

LISTS = ("/api/cameras", "/api/gallery?limit=60", "/api/matches?limit=50")
STREAM_TIMEOUT_S = 30.0  # the event stream sends a keepalive every 10 s
LIVE_PATH = "/api/live"
Transport = Literal["ws", "mjpeg"]
API_TIMEOUT_S = 10.0
MAX_FAULTS_KEPT = 50


@dataclass
class ClientStats:
    """What the clients did and what went wrong; shared by all clients of one run."""

    requests: Counter[str] = field(default_factory=Counter)
    failures: int = 0
    faults: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    frames: int = 0
    frame_bytes: int = 0
    events: int = 0
    query_set: bool = False

    def fail(self, what: str) -> None:
        """Count a failure; keep the first few messages to show."""
        self.failures += 1
        if len(self.faults) < MAX_FAULTS_KEPT:
            self.faults.append(f"{time.strftime('%H:%M:%S')} {what}")

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())


class Browser:
    """One open page: API polling, and the WebSocket with the frames of ``stream_cameras`` and the events.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8000``.
        stats: where to count requests, latencies and failures.
        stream_cameras: camera ids this page shows (the page shows them all).
        poll_s: seconds between two status polls.
        stream_fps: ``fps`` asked per camera (the page asks 10).
        pick_query: make the first gallery crop the query once there is one.
        lists_s: seconds between two polls of the cameras, gallery and matches lists.
        transport: ``ws`` (the page's one WebSocket) or ``mjpeg`` (event stream + MJPEG per camera).
    """

    def __init__(
        self,
        base_url: str,
        stats: ClientStats,
        stream_cameras: list[str],
        poll_s: float = 1.0,
        stream_fps: float = 10.0,
        pick_query: bool = False,
        lists_s: float = 1.0,
        transport: Transport = "ws",
    ) -> None:
        self.base_url = base_url
        self.stats = stats
        self.stream_cameras = stream_cameras
        self.poll_s = poll_s
        self.stream_fps = stream_fps
        self.pick_query = pick_query
        self.lists_s = lists_s
        self.transport = transport
        self.last_status: dict[str, Any] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Browse until ``stop`` is set; every connection is closed on return."""
        http = Connection(self.base_url, API_TIMEOUT_S)
        tasks = [asyncio.create_task(self._poll(http, stop))]
        if self.transport == "ws":
            tasks.append(asyncio.create_task(self._live(stop)))
        else:
            tasks.append(asyncio.create_task(self._sse(stop)))
            tasks += [asyncio.create_task(self._mjpeg(cam, stop)) for cam in self.stream_cameras]
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await http.close()

    async def _get(self, http: Connection, path: str) -> Any:
        t0 = time.perf_counter()
        self.stats.requests[path.split("?")[0]] += 1
        try:
            r = await http.request("GET", path)
        except HttpError as exc:
            self.stats.fail(f"GET {path}: {exc}")
            return None
        self.stats.latencies_ms.append((time.perf_counter() - t0) * 1000.0)
        if r.status != 200:
            self.stats.fail(f"GET {path}: HTTP {r.status}")
            return None
        try:
            return r.json()
        except ValueError as exc:
            self.stats.fail(f"GET {path}: not JSON ({exc})")
            return None

    async def _poll(self, http: Connection, stop: asyncio.Event) -> None:
        lists_due = 0.0
        while not stop.is_set():
            t0 = time.monotonic()
            self.last_status = await self._get(http, "/api/status") or self.last_status
            if t0 >= lists_due:
                lists_due = t0 + self.lists_s - 0.05  # a round that starts a little early still counts
                for path in LISTS:
                    body = await self._get(http, path)
                    if path.startswith("/api/gallery") and body is not None:
                        await self._maybe_pick(http, body)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, self.poll_s - (time.monotonic() - t0)))

    async def _maybe_pick(self, http: Connection, gallery: dict[str, Any]) -> None:
        if not self.pick_query or self.stats.query_set:
            return
        crops = [c["crop_id"] for card in gallery.get("cards", []) for c in card.get("crops", [])]
        if not crops:
            return
        self.stats.requests["/api/query/crops"] += 1
        try:
            r = await http.request("POST", "/api/query/crops", {"crop_ids": crops[:1], "label": "soak"})
        except HttpError as exc:
            self.stats.fail(f"POST /api/query/crops: {exc}")
            return
        if r.status == 200:
            self.stats.query_set = True
        else:
            self.stats.fail(f"POST /api/query/crops: HTTP {r.status}")

    async def _read_stream(self, path: str, marker: bytes, key: str) -> None:
        """One open stream until it fails or ends (each counted as a failure); counts ``marker``."""
        self.stats.requests[key] += 1
        counter = MarkerCounter(marker)
        try:
            async with contextlib.aclosing(stream(self.base_url, path, STREAM_TIMEOUT_S)) as pieces:
                async for piece in pieces:
                    if isinstance(piece, int):
                        if piece != 200:
                            self.stats.fail(f"GET {path}: HTTP {piece}")
                            return
                        continue
                    found = counter.feed(piece)
                    if key == "/api/events":
                        self.stats.events += found
                    else:
                        self.stats.frame_bytes += len(piece)
                        self.stats.frames += found
            self.stats.fail(f"GET {path}: the stream ended")
        except HttpError as exc:
            self.stats.fail(f"GET {path}: {exc}")

    async def _live(self, stop: asyncio.Event) -> None:
        url = "ws" + self.base_url.removeprefix("http") + LIVE_PATH
        url += f"?fps={self.stream_fps:g}&cameras={','.join(self.stream_cameras)}"
        while not stop.is_set():
            await self._read_live(url)
            await asyncio.sleep(1.0)

    async def _read_live(self, url: str) -> None:
        """One open WebSocket until it fails or ends (each counted as a failure)."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import WebSocketException

        self.stats.requests[LIVE_PATH] += 1
        try:
            async with connect(url, compression=None, max_size=2**24, open_timeout=API_TIMEOUT_S) as ws:
                async for message in ws:
                    if isinstance(message, bytes):
                        self.stats.frames += 1
                        self.stats.frame_bytes += len(message)
                    else:
                        self.stats.events += len(json.loads(message))
            self.stats.fail(f"{LIVE_PATH}: the server closed the socket")
        except (OSError, WebSocketException, ValueError) as exc:
            self.stats.fail(f"{LIVE_PATH}: {exc!r}")

    async def _sse(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self._read_stream("/api/events", b"event: ", "/api/events")
            await asyncio.sleep(1.0)

    async def _mjpeg(self, camera_id: str, stop: asyncio.Event) -> None:
        path = f"/api/cameras/{camera_id}/stream.mjpg?fps={self.stream_fps:g}"
        while not stop.is_set():
            await self._read_stream(path, b"Content-Type: image/jpeg", "/api/cameras/{id}/stream.mjpg")
            await asyncio.sleep(1.0)


async def fetch_status(base_url: str) -> dict[str, Any] | None:
    """One ``GET /api/status`` outside any client's figures (the benchmark's own look)."""
    http = Connection(base_url, API_TIMEOUT_S)
    try:
        r = await http.request("GET", "/api/status")
        return dict(r.json()) if r.status == 200 else None
    except (HttpError, ValueError):
        return None
    finally:
        await http.close()
