"""The OpenAPI page at /docs, served from local files so it works offline.

Swagger UI's JavaScript and CSS come from the ``fastapi-offline`` package when
it is installed; without it /docs falls back to FastAPI's page, which loads
them from a CDN (the API and /openapi.json work either way).
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

log = logging.getLogger(__name__)

DOCS_STATIC = "/docs-static"


def _offline_assets() -> Path | None:
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or spec.origin is None:
        return None
    static = Path(spec.origin).parent / "static"
    return static if (static / "swagger-ui-bundle.js").is_file() else None


def docs_url_for_app() -> str | None:
    """What to pass as FastAPI(docs_url=...): None when the offline page is added instead."""
    return None if _offline_assets() is not None else "/docs"


def add_offline_docs(app: FastAPI) -> None:
    """Serve Swagger UI at /docs from local files, if the assets are installed."""
    static = _offline_assets()
    if static is None:
        log.info("fastapi-offline not installed: /docs loads Swagger UI from a CDN")
        return
    app.mount(DOCS_STATIC, StaticFiles(directory=static), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_STATIC}/favicon.png",
        )
