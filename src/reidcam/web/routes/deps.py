"""Shared route dependencies: the controller, and the access checks every /api route runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request

from reidcam.web.controller import Controller
from reidcam.web.security import check_origin, check_token

#: Largest page offset accepted: far past any real list, well inside a 64-bit database integer
#: (a bigger one crashed SQLite with an OverflowError, a 500, found by the schema fuzz test).
MAX_OFFSET = 1_000_000_000
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="rows to skip")]
#: An optional time bound in epoch seconds; NaN and infinities are refused (422), never compared.
EpochS = Annotated[float | None, Query(allow_inf_nan=False, description="epoch seconds")]


# The dependencies and the read-only routes polled by every open page are ``async def``: they
# never block, and a sync one costs a worker-thread hop (and GIL hand-overs with detection)
# per request. Routes that touch the database or the models stay sync, in the thread pool.


async def controller(request: Request) -> Controller:
    ctrl: Controller = request.app.state.controller
    return ctrl


async def access(request: Request) -> None:
    """Token (when configured) and same-origin checks for every /api request."""
    check_token(request.app.state.services.token, request)
    check_origin(request)
