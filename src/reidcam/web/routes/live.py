"""One WebSocket per page: every camera's frames and every event over one connection.

Why: browsers allow 6 HTTP connections per server, shared by all tabs. A page that held one
MJPEG stream per camera plus the event stream left none for its buttons past a few cameras or
a second tab (issue #13). Over ``/api/live`` the server sends

- a binary message per frame: the camera id's length in bytes (2 bytes, big-endian), the id
  (UTF-8), then the JPEG with overlays; at most ``fps`` a second per camera, a placeholder
  picture once a second while a camera has no frame. The socket follows the camera set: a
  camera added (in any tab, or through the API) starts sending, a removed one stops;
- a text message per burst of events: a JSON array of events (``{"type": "card" | "match" |
  "query" | "threshold" | "runner" | "cameras" | ...}``, those of ``/api/events``), the first
  one ``hello``.

What the client sends is read and ignored. The access token applies as to every /api route
(cookie, ``?token=``, ``Authorization: Bearer``); a handshake from another site's page is
refused (403), one without the token gets 401. The server closes with 1001 (going away) when it
stops; a socket that cannot be closed within the server's wait (a client not reading) is cut by
uvicorn with 1012 (service restart). The page reconnects on any close.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import aclosing
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect, status
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketState

from reidcam.web.controller import Controller
from reidcam.web.feed import camera_frames
from reidcam.web.hub import EventHub, Message
from reidcam.web.routes.events import batch
from reidcam.web.security import origin_ok, token_ok

router = APIRouter(tags=["live"])
GOING_AWAY = 1001


def _refusal(websocket: WebSocket, ctrl: Controller, cameras: list[str]) -> JSONResponse | None:
    """The HTTP answer that refuses this handshake, or None to accept it."""
    if not token_ok(websocket.app.state.services.token, websocket):
        detail = "missing or wrong access token: send the cookie, ?token=<token> or a Bearer header"
        return JSONResponse({"detail": detail}, status.HTTP_401_UNAUTHORIZED)
    if not origin_ok(websocket):
        origin = websocket.headers.get("origin")
        return JSONResponse({"detail": f"cross-origin WebSocket from {origin} refused"}, 403)
    unknown = sorted(set(cameras) - set(ctrl.camera_ids()))
    if unknown:
        return JSONResponse({"detail": f"no camera {unknown[0]!r}; see GET /api/cameras"}, 404)
    return None


@router.websocket("/api/live")
async def live(
    websocket: WebSocket,
    fps: Annotated[float, Query(gt=0, le=30, description="most frames per second per camera")] = 10.0,
    cameras: Annotated[str, Query(description="comma-separated camera ids (default: all)")] = "",
) -> None:
    """Every camera's frames (binary) and the events (JSON arrays) on one WebSocket."""
    ctrl: Controller = websocket.app.state.controller
    asked = [c for c in cameras.split(",") if c]
    wanted = asked or ctrl.camera_ids()
    refusal = _refusal(websocket, ctrl, wanted)
    if refusal is not None:
        await websocket.send_denial_response(refusal)
        return
    await websocket.accept()
    hub: EventHub = websocket.app.state.hub
    queue = hub.subscribe()
    sender = _Sender(websocket)
    try:
        await sender.text(Message.of({"type": "hello", "cameras": wanted}).data, wrap=True)
        async with anyio.create_task_group() as tg:
            tg.start_soon(_ending(tg.cancel_scope, _until_closed, sender))
            tg.start_soon(_ending(tg.cancel_scope, _events, sender, queue))
            tg.start_soon(_follow_cameras, tg.cancel_scope, sender, ctrl, set(asked), fps)
    except WebSocketDisconnect:
        pass
    finally:
        try:
            await sender.close()
        finally:  # after the close frame: a stopping server waits for this (reidcam.web.server)
            hub.unsubscribe(queue)


class _Sender:
    """Sends on one socket from several tasks, one message at a time; knows when it is closed."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.closed = False
        self._lock = asyncio.Lock()

    async def text(self, data: str, wrap: bool = False) -> None:
        async with self._lock:
            await self.websocket.send_text(f"[{data}]" if wrap else data)

    async def binary(self, data: bytes) -> None:
        async with self._lock:
            await self.websocket.send_bytes(data)

    async def gone(self) -> bool:
        return self.closed

    async def close(self) -> None:
        """Close with 1001 (the server goes away) unless the client already went."""
        if self.closed or self.websocket.client_state != WebSocketState.CONNECTED:
            return
        self.closed = True
        with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):  # the client went meanwhile
            await self.websocket.close(GOING_AWAY)


def _ending(
    scope: anyio.CancelScope, work: Callable[..., Awaitable[None]], *args: object
) -> Callable[[], Coroutine[Any, Any, None]]:
    """``work(*args)`` as a task whose end (the client went, the server stops) ends them all."""

    async def run() -> None:
        try:
            with contextlib.suppress(WebSocketDisconnect, OSError):
                await work(*args)
        finally:
            scope.cancel()

    return run


async def _until_closed(sender: _Sender) -> None:
    """Read (and ignore) what the client sends, until it disconnects."""
    while True:
        message = await sender.websocket.receive()
        if message["type"] == "websocket.disconnect":
            sender.closed = True
            return


async def _events(sender: _Sender, queue: asyncio.Queue[Message | None]) -> None:
    """The hub's events, each burst as one JSON array; returns when the server stops."""
    while True:
        first = await queue.get()
        if first is None:
            return
        parts, end = batch(queue, first)
        await sender.text(",".join(m.data for m in parts), wrap=True)
        if end:
            return


#: Longest sleep of the camera-set follower between two looks (it is woken on every change).
FOLLOW_WAIT_S = 5.0


async def _follow_cameras(
    socket_scope: anyio.CancelScope, sender: _Sender, ctrl: Controller, asked: set[str], fps: float
) -> None:
    """One frame feed per camera (of ``asked``, or all when empty), started and cancelled as
    cameras are added and removed; a failing send (the client went) ends the whole socket."""
    feeds: dict[str, anyio.CancelScope] = {}
    async with anyio.create_task_group() as tg:
        while True:
            seen = ctrl.camera_changes.version
            ids = [c for c in ctrl.camera_ids() if not asked or c in asked]
            for camera_id in set(feeds) - set(ids):
                feeds.pop(camera_id).cancel()
            for camera_id in ids:
                if camera_id not in feeds:
                    feeds[camera_id] = anyio.CancelScope()
                    tg.start_soon(_feed, socket_scope, feeds, camera_id, sender, ctrl, fps)
            await ctrl.camera_changes.wait(seen, FOLLOW_WAIT_S)


async def _feed(
    socket_scope: anyio.CancelScope,
    feeds: dict[str, anyio.CancelScope],
    camera_id: str,
    sender: _Sender,
    ctrl: Controller,
    fps: float,
) -> None:
    scope = feeds[camera_id]
    try:
        with scope:
            await _frames(sender, ctrl, camera_id, fps)
    except (WebSocketDisconnect, OSError):
        socket_scope.cancel()
    finally:
        if feeds.get(camera_id) is scope:  # ended by itself (the camera went): may start again
            del feeds[camera_id]


async def _frames(sender: _Sender, ctrl: Controller, camera_id: str, fps: float) -> None:
    """One camera's feed as binary messages: id length, id, JPEG."""
    name = camera_id.encode()
    head = struct.pack(">H", len(name)) + name
    async with aclosing(camera_frames(ctrl, camera_id, fps, sender.gone)) as frames:
        async for jpeg in frames:
            await sender.binary(head + jpeg)
