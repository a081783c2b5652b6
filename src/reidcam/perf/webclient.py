"""A browser-like client of the web app, for the soak and load benchmarks (asyncio + httpx).

It does what an open page does: polls the status every second and the cameras, gallery and
matches lists every ``lists_s`` (1 s by default; the real page asks for them every 5 s), keeps
the event stream and one MJPEG stream per watched camera open (reading and discarding), and,
when asked, picks a gallery crop as the query once crops exist. Every request and stream fault
is counted: the benchmarks report them, a healthy server has none.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

try:
    import httpx
except ImportError as exc:  # pragma: no cover - httpx is a dev dependency
    raise ImportError(
        "the web benchmarks need httpx: pip install 'reidcam[dev]' (or pip install httpx)"
    ) from exc

LISTS = ("/api/cameras", "/api/gallery?limit=60", "/api/matches?limit=50")
STREAM_TIMEOUT = httpx.Timeout(10.0, read=30.0)  # the event stream sends a keepalive every 10 s
API_TIMEOUT = httpx.Timeout(10.0)
MAX_FAULTS_KEPT = 50


@dataclass
class ClientStats:
    """What the clients did and what went wrong; shared by all clients of one run."""

    requests: Counter[str] = field(default_factory=Counter)
    failures: int = 0
    faults: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    mjpeg_frames: int = 0
    mjpeg_bytes: int = 0
    sse_events: int = 0
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
    """One open page: API polling, the event stream, MJPEG streams of ``stream_cameras``.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8000``.
        stats: where to count requests, latencies and failures.
        stream_cameras: camera ids whose MJPEG stream this page shows.
        poll_s: seconds between two status polls.
        stream_fps: ``fps`` asked of the MJPEG streams (the page asks 10).
        pick_query: make the first gallery crop the query once there is one.
        lists_s: seconds between two polls of the cameras, gallery and matches lists.
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
    ) -> None:
        self.base_url = base_url
        self.stats = stats
        self.stream_cameras = stream_cameras
        self.poll_s = poll_s
        self.stream_fps = stream_fps
        self.pick_query = pick_query
        self.lists_s = lists_s
        self.last_status: dict[str, Any] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Browse until ``stop`` is set; every connection is closed on return."""
        limits = httpx.Limits(max_connections=len(self.stream_cameras) + 4, max_keepalive_connections=4)
        async with httpx.AsyncClient(base_url=self.base_url, limits=limits) as http:
            tasks = [asyncio.create_task(self._poll(http, stop)), asyncio.create_task(self._sse(http, stop))]
            tasks += [asyncio.create_task(self._mjpeg(http, cam, stop)) for cam in self.stream_cameras]
            await stop.wait()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _get(self, http: httpx.AsyncClient, path: str) -> Any:
        t0 = time.perf_counter()
        self.stats.requests[path.split("?")[0]] += 1
        try:
            r = await http.get(path, timeout=API_TIMEOUT)
        except httpx.HTTPError as exc:
            self.stats.fail(f"GET {path}: {type(exc).__name__} {exc}")
            return None
        self.stats.latencies_ms.append((time.perf_counter() - t0) * 1000.0)
        if r.status_code != 200:
            self.stats.fail(f"GET {path}: HTTP {r.status_code}")
            return None
        return r.json()

    async def _poll(self, http: httpx.AsyncClient, stop: asyncio.Event) -> None:
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

    async def _maybe_pick(self, http: httpx.AsyncClient, gallery: dict[str, Any]) -> None:
        if not self.pick_query or self.stats.query_set:
            return
        crops = [c["crop_id"] for card in gallery.get("cards", []) for c in card.get("crops", [])]
        if not crops:
            return
        self.stats.requests["/api/query/crops"] += 1
        try:
            r = await http.post("/api/query/crops", json={"crop_ids": crops[:1], "label": "soak"})
        except httpx.HTTPError as exc:
            self.stats.fail(f"POST /api/query/crops: {type(exc).__name__} {exc}")
            return
        if r.status_code == 200:
            self.stats.query_set = True
        else:
            self.stats.fail(f"POST /api/query/crops: HTTP {r.status_code}")

    async def _sse(self, http: httpx.AsyncClient, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.stats.requests["/api/events"] += 1
            try:
                async with http.stream("GET", "/api/events", timeout=STREAM_TIMEOUT) as r:
                    if r.status_code != 200:
                        self.stats.fail(f"GET /api/events: HTTP {r.status_code}")
                    else:
                        async for line in r.aiter_lines():
                            if line.startswith("event: "):
                                self.stats.sse_events += 1
                        self.stats.fail("GET /api/events: the stream ended")
            except httpx.HTTPError as exc:
                self.stats.fail(f"GET /api/events: {type(exc).__name__} {exc}")
            await asyncio.sleep(1.0)

    async def _mjpeg(self, http: httpx.AsyncClient, camera_id: str, stop: asyncio.Event) -> None:
        path = f"/api/cameras/{camera_id}/stream.mjpg?fps={self.stream_fps:g}"
        while not stop.is_set():
            self.stats.requests["/api/cameras/{id}/stream.mjpg"] += 1
            try:
                async with http.stream("GET", path, timeout=STREAM_TIMEOUT) as r:
                    if r.status_code != 200:
                        self.stats.fail(f"GET {path}: HTTP {r.status_code}")
                    else:
                        async for chunk in r.aiter_raw(65536):
                            self.stats.mjpeg_bytes += len(chunk)
                            self.stats.mjpeg_frames += chunk.count(b"Content-Type: image/jpeg")
                        self.stats.fail(f"GET {path}: the stream ended")
            except httpx.HTTPError as exc:
                self.stats.fail(f"GET {path}: {type(exc).__name__} {exc}")
            await asyncio.sleep(1.0)


async def fetch_status(base_url: str) -> dict[str, Any] | None:
    """One ``GET /api/status`` outside any client's figures (the benchmark's own look)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=API_TIMEOUT) as http:
        try:
            r = await http.get("/api/status")
            return dict(r.json()) if r.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None
