"""The page's one WebSocket (/api/live): every camera's frames and the events on one connection,
behind the same access token as every other route (issue #13: tabs froze on the 6-connection limit)."""

from __future__ import annotations

import json
import struct
import threading
from collections.abc import Callable, Iterator

import pytest
import uvicorn
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect
from web_support import CAMERAS, fake_config, wait_for
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from reidcam.web import Services, create_app
from reidcam.web.security import TOKEN_COOKIE, cookie_value
from reidcam.web.server import Server

TOKEN = "correct-horse-battery-staple"


def split_frame(message: bytes) -> tuple[str, bytes]:
    """(camera id, JPEG) of one binary message of /api/live."""
    (n,) = struct.unpack(">H", message[:2])
    return message[2 : 2 + n].decode(), message[2 + n :]


def _collect(ws: object, want: Callable[[dict[str, int], list[dict]], bool], limit: int = 400) -> tuple:
    """Read messages until ``want(frames per camera, events)``; returns them."""
    frames: dict[str, int] = {}
    events: list[dict] = []
    for _ in range(limit):
        message = ws.receive()  # type: ignore[attr-defined]
        if message.get("bytes") is not None:
            camera_id, jpeg = split_frame(message["bytes"])
            assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9", "not a whole JPEG"
            frames[camera_id] = frames.get(camera_id, 0) + 1
        elif message.get("text") is not None:
            batch = json.loads(message["text"])
            assert isinstance(batch, list) and all("type" in e for e in batch)
            events += batch
        if want(frames, events):
            return frames, events
    raise AssertionError(
        f"not seen after {limit} messages: frames {frames}, events {[e['type'] for e in events]}"
    )


def test_one_socket_carries_every_camera_and_the_events(client: TestClient) -> None:
    with client.websocket_connect("/api/live?fps=30") as ws:
        first = json.loads(ws.receive_text())
        assert first == [{"type": "hello", "cameras": list(CAMERAS)}]
        # Stopped: each camera shows a placeholder picture, so its panel is never blank.
        frames, _ = _collect(ws, lambda f, e: set(f) == set(CAMERAS))
        assert client.post("/api/start").json()["running"] is True
        frames, events = _collect(
            ws,
            lambda f, e: (
                len(f) == len(CAMERAS) and min(f.values()) >= 5 and any(x["type"] == "card" for x in e)
            ),
        )
        assert set(frames) == set(CAMERAS)
        client.put("/api/threshold", json={"threshold": 0.66})
        _, events = _collect(ws, lambda f, e: any(x["type"] == "threshold" for x in e))
        assert next(x for x in events if x["type"] == "threshold")["threshold"] == 0.66
        client.post("/api/stop")


def test_a_socket_can_ask_for_some_cameras_only(client: TestClient) -> None:
    client.post("/api/start")
    with client.websocket_connect("/api/live?fps=30&cameras=cam1") as ws:
        assert json.loads(ws.receive_text())[0]["cameras"] == ["cam1"]
        frames, _ = _collect(ws, lambda f, e: f.get("cam1", 0) >= 5)
        assert set(frames) == {"cam1"}
    with (
        pytest.raises(WebSocketDenialResponse) as refused,
        client.websocket_connect("/api/live?cameras=nope"),
    ):
        pass
    assert refused.value.status_code == 404 and "nope" in refused.value.json()["detail"]
    client.post("/api/stop")


def test_a_bad_rate_is_refused_not_served(client: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/api/live?fps=0") as ws:
        ws.receive()


@pytest.fixture
def served(make_services: Callable[..., Services]) -> Iterator[tuple[str, Callable[[], None]]]:
    """A real uvicorn server with a token; yields its ws:// base and a function that stops it."""
    app = create_app(fake_config(), make_services(token=TOKEN))
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        lifespan="on",
    )
    server = Server(config, app)  # the server of `reidcam serve`: its sockets close with 1001 first
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 10, "uvicorn to start")

    def stop() -> None:  # as a signal does: uvicorn's exit flag, streams ended by the server itself
        server.should_exit = True
        thread.join(10)

    yield f"ws://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", stop
    if thread.is_alive():
        stop()


def _open(url: str, **kwargs: object) -> ClientConnection:
    return connect(url, open_timeout=5, compression=None, max_size=None, **kwargs)  # type: ignore[arg-type]


def _refused(url: str, **kwargs: object) -> int:
    with pytest.raises(InvalidStatus) as refused, _open(url, **kwargs):
        pass
    return refused.value.response.status_code


def _hello(ws: ClientConnection) -> list[dict]:
    return json.loads(ws.recv(timeout=5))


def test_the_token_guards_the_socket_as_every_route(served: tuple[str, Callable[[], None]]) -> None:
    base, _ = served
    url = base + "/api/live"
    assert _refused(url) == 401
    assert _refused(url + "?token=" + TOKEN[:-1]) == 401
    assert _refused(url, additional_headers={"Authorization": "Bearer wrong"}) == 401
    assert (
        _refused(url, additional_headers={"Cookie": f"{TOKEN_COOKIE}={TOKEN}"}) == 401
    )  # raw token: no cookie
    with _open(url + "?token=" + TOKEN) as ws:
        assert _hello(ws)[0]["type"] == "hello"
    with _open(url, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
        assert _hello(ws)[0]["type"] == "hello"
    with _open(url, additional_headers={"Cookie": f"{TOKEN_COOKIE}={cookie_value(TOKEN)}"}) as ws:
        assert _hello(ws)[0]["type"] == "hello"


def test_another_sites_page_cannot_open_the_socket(served: tuple[str, Callable[[], None]]) -> None:
    base, _ = served
    url = f"{base}/api/live?token={TOKEN}"
    host = base.removeprefix("ws://")
    assert _refused(url, origin="http://evil.example") == 403
    assert _refused(url, additional_headers={"Origin": "null"}) == 403
    with _open(url, origin=f"http://{host}") as ws:  # the page's own origin
        assert _hello(ws)[0]["type"] == "hello"


def test_the_socket_ends_when_the_server_stops(served: tuple[str, Callable[[], None]]) -> None:
    base, stop = served
    with _open(f"{base}/api/live?token={TOKEN}") as ws:
        assert _hello(ws)[0]["type"] == "hello"
        assert isinstance(ws.recv(timeout=5), bytes)  # the placeholder of a stopped camera
        stopper = threading.Thread(target=stop)
        stopper.start()
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=10)
        stopper.join(10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
