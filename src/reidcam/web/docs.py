"""The OpenAPI page at /docs and the schema at /openapi.json, behind the access token.

Swagger UI's JavaScript and CSS come from the ``fastapi-offline`` package when
it is installed, so the page works offline; without it /docs loads them from a
CDN (the API and /openapi.json work either way). Both answer 401 without the
token when one is set: the schema lists every route a stranger could try.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from reidcam.web.security import check_token

log = logging.getLogger(__name__)

DOCS_STATIC = "/docs-static"
OPENAPI_URL = "/openapi.json"


def _offline_assets() -> Path | None:
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or spec.origin is None:
        return None
    static = Path(spec.origin).parent / "static"
    return static if (static / "swagger-ui-bundle.js").is_file() else None


def add_docs(app: FastAPI) -> None:
    """/openapi.json and Swagger UI at /docs (create the app with ``docs_url=None, openapi_url=None``)."""
    static = _offline_assets()
    if static is None:
        log.info("fastapi-offline not installed: /docs loads Swagger UI from a CDN")
        assets: dict[str, str] = {}
    else:
        app.mount(DOCS_STATIC, StaticFiles(directory=static), name="docs-static")
        assets = {
            "swagger_js_url": f"{DOCS_STATIC}/swagger-ui-bundle.js",
            "swagger_css_url": f"{DOCS_STATIC}/swagger-ui.css",
            "swagger_favicon_url": f"{DOCS_STATIC}/favicon.png",
        }

    @app.get(OPENAPI_URL, include_in_schema=False)
    def openapi_schema(request: Request) -> JSONResponse:
        check_token(request.app.state.services.token, request)
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        check_token(request.app.state.services.token, request)
        # The page fetches the schema itself: with a ?token= in the URL, it passes it on.
        token = request.query_params.get("token")
        url = OPENAPI_URL if token is None else f"{OPENAPI_URL}?{urlencode({'token': token})}"
        title = f"{app.title} API"
        if not assets:
            return get_swagger_ui_html(openapi_url=url, title=title)
        return get_swagger_ui_html(
            openapi_url=url,
            title=title,
            swagger_js_url=assets["swagger_js_url"],
            swagger_css_url=assets["swagger_css_url"],
            swagger_favicon_url=assets["swagger_favicon_url"],
        )
