"""uvicorn's server for the app: on stop, the app's streams end before uvicorn cuts connections.

uvicorn's shutdown closes every open WebSocket with 1012 (service restart) at once; the page's
socket (``/api/live``) promises 1001 (going away). Ending the streams from a signal handler or
another thread only raced uvicorn's 0.1 s exit check: under load uvicorn's 1012 went out first
(CI). Here the streams end on the event loop after the main loop has stopped and *before*
uvicorn's own shutdown starts, so each socket sends its 1001 first; one that cannot within
``STREAMS_END_S`` (a client not reading) is then closed by uvicorn with 1012. The page
reconnects on any close.
"""

from __future__ import annotations

import socket

import uvicorn
from fastapi import FastAPI

from reidcam.web.app import end_streams

#: Longest wait for the app's streams to end before uvicorn closes what is left.
STREAMS_END_S = 2.0


class Server(uvicorn.Server):
    """``uvicorn.Server`` that ends the app's streams (sockets closed with 1001) before its shutdown."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self.app = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await end_streams(self.app, STREAMS_END_S)
        await super().shutdown(sockets)
