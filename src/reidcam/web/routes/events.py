"""Server-sent events: new gallery cards, matches, query/threshold/runner changes.

For other clients (curl, scripts): the page itself gets the same events over its one
WebSocket (``/api/live``, ``reidcam.web.routes.live``), so an open tab holds no HTTP connection
that a button press could queue behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from reidcam.web.hub import EventHub, Message

router = APIRouter(tags=["events"])
KEEPALIVE_S = 10.0
MAX_BATCH = 64
_IDLE = ""  # no message within KEEPALIVE_S (a message is never empty)


def batch(q: asyncio.Queue[Message | None], first: Message) -> tuple[list[Message], bool]:
    """``first`` and the messages queued behind it, as one write; True if the stream must end.

    The runner publishes a frame's events together: one write per burst instead of one per
    event saves a send (and its HTTP chunk) per event per client.
    """
    parts = [first]
    while len(parts) < MAX_BATCH and not q.empty():
        message = q.get_nowait()
        if message is None:
            return parts, True
        parts.append(message)
    return parts, False


async def _events(request: Request, hub: EventHub) -> AsyncIterator[str]:
    live = request.app.state.live
    q = hub.subscribe()
    try:
        yield "retry: 2000\nevent: hello\ndata: {}\n\n"
        while not live.shutting_down.is_set():
            message: Message | str | None = _IDLE
            # anyio's timeout, not asyncio.wait_for: Starlette's disconnect check uses anyio cancel
            # scopes, and mixing the two cancelled this generator spuriously. Starlette ends the
            # stream when the client goes; the keepalive is the backstop (a write to a gone client
            # fails), so an idle stream wakes the server once per KEEPALIVE_S, not twice a second.
            with anyio.move_on_after(KEEPALIVE_S):
                message = await q.get()
            if message == _IDLE:
                if await request.is_disconnected():
                    return
                yield ": keepalive\n\n"
                continue
            if not isinstance(message, Message):
                return
            parts, end = batch(q, message)
            yield "".join(m.sse for m in parts)
            if end:
                return
    finally:
        hub.unsubscribe(q)


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "event: card|match|query|threshold|runner|sighting",
        }
    },
)
def events(request: Request) -> StreamingResponse:
    """A text/event-stream of JSON events, for ``new EventSource('/api/events')``."""
    return StreamingResponse(
        _events(request, request.app.state.hub),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
