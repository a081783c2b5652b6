"""The FastAPI application: ``create_app(config, services)``.

Nothing here loads a model or opens a camera at import time: the models come in
``services``, and cameras are opened by Start (or at startup with
``services.autostart``). The lifespan stops the runner when the server stops.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from reidcam import __version__
from reidcam.capture.urls import redact_text
from reidcam.config import AppConfig
from reidcam.core.errors import ReidcamError
from reidcam.identity.setup import retention_worker
from reidcam.runtime.allocator import trim
from reidcam.runtime.priority import lower_this_thread
from reidcam.web.cluster_controller import ClusterController
from reidcam.web.controller import Controller
from reidcam.web.docs import add_docs
from reidcam.web.hub import EventHub
from reidcam.web.listcache import ListCache, WriteTracker
from reidcam.web.routes import calibration, cameras, control, events, gallery, identities, matches, query
from reidcam.web.routes import live as live_socket
from reidcam.web.routes.deps import access
from reidcam.web.schemas import Error
from reidcam.web.security import remember_token, token_ok, token_page
from reidcam.web.services import Services
from reidcam.web.state import LiveState

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
TRIM_INTERVAL_S = 60.0


def begin_shutdown(app: FastAPI) -> None:
    """Make every open stream end now (thread-safe).

    Uvicorn waits for open responses before running the lifespan shutdown, and
    an MJPEG, event or WebSocket stream never ends by itself: the server calls this when
    asked to exit, so shutting down never hangs on a browser tab.
    """
    app.state.live.shutting_down.set()
    app.state.hub.publish_end()


async def end_streams(app: FastAPI, timeout_s: float) -> None:
    """End every open stream from the event loop and wait, at most ``timeout_s``, until their
    clients have gone: each page socket has then sent its 1001 (see ``reidcam.web.server``)."""
    app.state.live.shutting_down.set()
    hub: EventHub = app.state.hub
    hub.close()
    with anyio.move_on_after(timeout_s):
        while hub.clients:
            await asyncio.sleep(0.01)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    ctrl: Controller = app.state.controller
    if ctrl.services.launcher is not None and lower_this_thread(ctrl.services.web_nice):
        log.info("web server threads run at nice +%d: detection goes first", ctrl.services.web_nice)
    app.state.hub.bind(asyncio.get_running_loop())
    app.state.live.frames.bind(asyncio.get_running_loop())
    app.state.live.shutting_down.clear()
    retention = None
    await run_in_threadpool(ctrl.open)  # the distributed mode starts following the broker
    if ctrl.memory is not None:
        n = await run_in_threadpool(ctrl.sync_memory_queries)
        if n:
            log.info("identity memory: %d named identit%s restored as queries", n, "y" if n == 1 else "ies")
        retention = retention_worker(ctrl.config, ctrl.memory)
        retention.start()
    if ctrl.services.autostart:
        await run_in_threadpool(ctrl.start)
    trimmer = asyncio.create_task(_trim_memory_every(TRIM_INTERVAL_S))
    try:
        yield
    finally:
        trimmer.cancel()
        app.state.live.shutting_down.set()
        app.state.hub.close()
        await run_in_threadpool(ctrl.shutdown)  # also writes the queued sightings and stops the writer
        if retention is not None:
            await run_in_threadpool(retention.stop)


async def _trim_memory_every(interval_s: float) -> None:
    """Hand freed heap memory back to the system now and then: a server that decodes video
    for weeks must not creep (see ``reidcam.runtime.allocator``)."""
    while True:
        await asyncio.sleep(interval_s)
        await run_in_threadpool(trim)


async def _reidcam_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": redact_text(str(exc))}, status_code=400)


def _redacted(value: Any) -> Any:
    """``value`` (JSON-like) with every URL's password and secret parameters masked."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    return value


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, but the echoed input never shows a secret (a camera URL's password)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse({"detail": _redacted(jsonable_encoder(errors))}, status_code=422)


def _path_patterns(app: FastAPI) -> list[tuple[re.Pattern[str], frozenset[str]]]:
    """(path regex, methods) of every documented operation, from the app's OpenAPI schema (cached)."""
    cached: list[tuple[re.Pattern[str], frozenset[str]]] | None = getattr(app.state, "allow_patterns", None)
    if cached is None:
        cached = []
        for template, ops in app.openapi()["paths"].items():
            regex = re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(template))
            cached.append((re.compile(regex), frozenset(m.upper() for m in ops)))
        app.state.allow_patterns = cached
    return cached


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    """405 whose ``Allow`` lists every method of the path.

    Starlette names only the methods of the first route matching the path, so ``OPTIONS
    /api/threshold`` said ``Allow: GET`` though PUT exists too (found by the schema fuzz test).
    """
    path = request.scope["path"]
    methods: set[str] = set()
    for regex, ops in _path_patterns(request.app):
        if regex.fullmatch(path):
            methods |= ops
    headers = getattr(exc, "headers", None) or {}
    allow = ", ".join(sorted(methods)) if methods else headers.get("Allow", "")
    detail = getattr(exc, "detail", "Method Not Allowed")
    return JSONResponse({"detail": detail}, status_code=405, headers={"Allow": allow})


#: Answers any /api route can give: a malformed body or a refused action, no or a wrong token,
#: a cross-origin write. Documented once so clients (and the schema fuzz test) expect them.
API_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Error, "description": "malformed request, or the action was refused"},
    401: {"model": Error, "description": "missing or wrong access token"},
    403: {"model": Error, "description": "cross-origin request refused"},
}


def _api_router() -> APIRouter:
    api = APIRouter(prefix="/api", dependencies=[Depends(access)], responses=API_ERRORS)
    for module in (control, calibration, cameras, gallery, query, matches, events, identities):
        api.include_router(module.router)
    return api


def create_app(config: AppConfig, services: Services) -> FastAPI:
    """Build the web app around already-loaded models and a camera factory."""
    hub = EventHub()
    live = LiveState(services.data_dir, hub, services.live)
    app = FastAPI(
        title="reidcam",
        version=__version__,
        description="Pick a person in the gallery, watch them matched across cameras.",
        lifespan=_lifespan,
        docs_url=None,  # both served by add_docs, behind the access token
        openapi_url=None,
        redoc_url=None,
    )
    app.state.services, app.state.hub, app.state.live = services, hub, live
    kind = Controller if services.broker is None else ClusterController
    app.state.controller = kind(config, services, live, hub)
    app.state.list_cache = ListCache()
    app.add_middleware(WriteTracker, cache=app.state.list_cache)
    if services.allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=services.allowed_hosts)
    app.add_exception_handler(ReidcamError, _reidcam_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(405, _method_not_allowed)
    app.include_router(_api_router())
    app.include_router(live_socket.router)  # a WebSocket: checks the token and origin itself
    add_docs(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def index(request: Request) -> Response:
        """The page; with a token configured only for a request carrying it (else the token form)."""
        token = request.app.state.services.token
        if not token_ok(token, request):
            return token_page()
        page = FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})
        remember_token(request, page, token)
        return page

    return app
