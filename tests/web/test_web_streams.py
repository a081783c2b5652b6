"""Streams on a real uvicorn server: MJPEG and server-sent events flow, and end at shutdown."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from web_support import fake_config, wait_for

from harness.webclient import Browser, ClientStats
from reidcam.web import Services, begin_shutdown, create_app


class _Served:
    def __init__(self, app: FastAPI) -> None:
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            ws="websockets-sansio",
            ws_per_message_deflate=False,
            lifespan="on",
        )
        self.app = app
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _Served:
        self.thread.start()
        wait_for(lambda: self.server.started, 10, "uvicorn to start")
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> float:
        """Ask uvicorn to exit the way a Ctrl-C does; returns how long it took."""
        t0 = time.monotonic()
        begin_shutdown(self.app)
        self.server.should_exit = True
        self.thread.join(10)
        return time.monotonic() - t0

    def __exit__(self, *exc: object) -> None:
        if self.thread.is_alive():
            self.stop()


@pytest.fixture
def served(services: Services) -> Iterator[_Served]:
    with _Served(create_app(fake_config(), services)) as s:
        yield s


def _read_events(url: str, events: list[dict], done: threading.Event) -> None:
    with httpx.stream("GET", url, timeout=30) as r:
        kind = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind:
                events.append({"type": kind, **json.loads(line[6:])})
    done.set()


def _read_mjpeg(url: str, frames: list[int], done: threading.Event) -> None:
    with httpx.stream("GET", url, timeout=30) as r:
        for chunk in r.iter_bytes():
            frames.append(chunk.count(b"Content-Type: image/jpeg"))
    done.set()


def test_streams_deliver_and_end_when_the_server_stops(served: _Served) -> None:
    events: list[dict] = []
    frames: list[int] = []
    sse_done, mjpeg_done = threading.Event(), threading.Event()
    threading.Thread(
        target=_read_events, args=(served.url + "/api/events", events, sse_done), daemon=True
    ).start()
    wait_for(lambda: any(e["type"] == "hello" for e in events), 5, "the event stream to open")
    stream_url = served.url + "/api/cameras/cam0/stream.mjpg?fps=20"
    threading.Thread(target=_read_mjpeg, args=(stream_url, frames, mjpeg_done), daemon=True).start()

    assert httpx.post(served.url + "/api/start").json()["running"] is True
    card = wait_for(lambda: next((e for e in events if e["type"] == "card"), None), 10, "a card event")
    assert card["card"]["crops"] and card["card"]["camera_id"] in ("cam0", "cam1")
    wait_for(lambda: sum(frames) >= 3, 10, "three MJPEG frames")

    took = served.stop()
    assert not served.thread.is_alive(), "uvicorn did not shut down with open streams"
    assert took < 5.0
    assert sse_done.wait(2) and mjpeg_done.wait(2), "the streams did not end"
    assert not served.app.state.controller.runner_state().running


def test_a_client_that_leaves_is_forgotten(served: _Served) -> None:
    hub = served.app.state.hub
    with httpx.stream("GET", served.url + "/api/events", timeout=10) as r:
        lines = r.iter_lines()  # keep a reference: a dropped iterator closes the response
        assert next(lines) == "retry: 2000"
        wait_for(lambda: hub.clients == 1, 5, "the client to subscribe")
    wait_for(lambda: hub.clients == 0, 5, "the server to notice the client left")


@pytest.mark.parametrize("transport", ["ws", "mjpeg"])
def test_the_benchmark_client_browses_without_a_fault(served: _Served, transport: str) -> None:
    """The soak/load client (its own small HTTP client) against the real server: polls, and the
    page's WebSocket (or the event stream and MJPEG streams), each counted, none failing."""
    assert httpx.post(served.url + "/api/start").json()["running"] is True

    async def browse() -> ClientStats:
        stats, stop = ClientStats(), asyncio.Event()
        pages = [
            Browser(served.url, stats, ["cam0", "cam1"], poll_s=0.5, lists_s=0.5, transport=transport)  # type: ignore[arg-type]
            for _ in range(3)
        ]
        pages[0].pick_query = True
        tasks = [asyncio.create_task(p.run(stop)) for p in pages]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (
            stats.frames >= 18 and stats.events >= 6 and stats.query_set
        ):
            await asyncio.sleep(0.2)
        stop.set()
        await asyncio.gather(*tasks)
        return stats

    stats = asyncio.run(browse())
    assert stats.failures == 0, stats.faults
    assert stats.frames >= 18 and stats.frame_bytes > stats.frames * 500
    assert stats.events >= 6 and stats.query_set
    for path in ("/api/status", "/api/cameras", "/api/gallery", "/api/matches"):
        assert stats.requests[path] >= 3, path
    if transport == "ws":  # one connection per page for every camera and the events
        assert stats.requests["/api/live"] == 3 and "/api/events" not in stats.requests
    else:
        assert stats.requests["/api/events"] == 3 and stats.requests["/api/cameras/{id}/stream.mjpg"] == 6
    queries = httpx.get(served.url + "/api/query").json()["queries"]
    assert [q["label"] for q in queries] == ["soak"]  # the page that picks a query picked one
