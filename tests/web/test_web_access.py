"""Access control over real HTTP: the page, the API, the MJPEG streams and the event stream.

Without a configured token (loopback) everything is open. With one, every one of them
answers 401 until the request carries the token: as a Bearer header, as ``?token=``, or as
the cookie the page sets when opened with ``?token=`` once. ``reidcam serve`` takes the token
from ``$REIDCAM_TOKEN`` and never writes it to a log.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from web_support import fake_config, wait_for

from reidcam.cli import main
from reidcam.commands.serve import TOKEN_ENV
from reidcam.web import Services, begin_shutdown, create_app
from reidcam.web import security as web_security
from reidcam.web.security import TOKEN_COOKIE

TOKEN = "correct-horse-battery-staple"
#: (what, path): the page, the JSON API, an MJPEG stream (one frame, then it ends), the event
#: stream, the API's schema and its Swagger page (the schema maps every route for a stranger).
GUARDED = [
    ("page", "/"),
    ("api", "/api/status"),
    ("mjpeg", "/api/cameras/cam0/stream.mjpg?max_frames=1&fps=30"),
    ("events", "/api/events"),
    ("schema", "/openapi.json"),
    ("docs", "/docs"),
]


@pytest.fixture
def served_with_token(make_services: Callable[..., Services]) -> Iterator[str]:
    """A real uvicorn server (streams never end by themselves, so no in-process client) with a token."""
    app = create_app(fake_config(), make_services(token=TOKEN))
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            ws="websockets-sansio",
            ws_per_message_deflate=False,
            lifespan="on",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 10, "uvicorn to start")
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    begin_shutdown(app)
    server.should_exit = True
    thread.join(10)


def _status(client: httpx.Client, path: str, **kwargs: object) -> int:
    """The status of a GET; a 200 stream is read to its first line and dropped."""
    with client.stream("GET", path, **kwargs) as r:  # type: ignore[arg-type]
        if r.status_code == 200:
            next(r.iter_lines())
        return r.status_code


def test_loopback_without_a_token_serves_page_api_and_streams(client: TestClient) -> None:
    for what, path in GUARDED[:3]:  # the endless event stream is read in test_web_streams
        assert client.get(path).status_code == 200, what
    assert TOKEN_COOKIE not in client.get("/?token=anything").headers.get("set-cookie", "")


def test_with_a_token_nothing_is_served_without_it(served_with_token: str) -> None:
    with httpx.Client(base_url=served_with_token, timeout=10) as c:
        for what, path in GUARDED:
            assert _status(c, path) == 401, what
            assert _status(c, path, headers={"Authorization": "Bearer wrong-token"}) == 401, what
            assert _status(c, path, params={"token": TOKEN[:-1]}) == 401, what
            assert _status(c, path, cookies={TOKEN_COOKIE: TOKEN}) == 401, what  # the raw token is no cookie
        page = c.get("/")
        assert 'name="token"' in page.text and "REIDCAM_TOKEN" in page.text
        assert page.headers["content-type"].startswith("text/html")
        api = c.get("/api/status")
        assert api.headers["www-authenticate"] == "Bearer" and "access token" in api.json()["detail"]


def test_with_a_token_header_query_or_cookie_opens_everything(served_with_token: str) -> None:
    with httpx.Client(base_url=served_with_token, timeout=10) as c:
        for what, path in GUARDED:
            assert _status(c, path, headers={"Authorization": f"Bearer {TOKEN}"}) == 200, what
            assert _status(c, path, params={"token": TOKEN}) == 200, what
    with httpx.Client(base_url=served_with_token, timeout=10) as browser:
        page = browser.get("/", params={"token": TOKEN})
        assert page.status_code == 200 and "Start detection" in page.text
        cookie = page.headers["set-cookie"]
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
        assert TOKEN not in cookie, "the cookie must not hold the token itself"
        for what, path in GUARDED:  # no header, no ?token=: the cookie alone
            assert _status(browser, path) == 200, what
    with httpx.Client(base_url=served_with_token, timeout=10) as c:
        docs = c.get("/docs", params={"token": TOKEN}).text  # Swagger fetches the schema with it
        assert f"/openapi.json?token={TOKEN}" in docs


def test_tokens_are_compared_in_constant_time(
    make_services: Callable[..., Services], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = web_security.secrets.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(web_security.secrets, "compare_digest", spy)
    services = make_services(token=TOKEN)
    assert TOKEN not in repr(services)  # a logged or traced Services never shows it
    with TestClient(create_app(fake_config(), services)) as c:
        assert c.get("/api/status", params={"token": "nope"}).status_code == 401
        assert c.get("/api/status", params={"token": TOKEN}).status_code == 200
        c.cookies.set(TOKEN_COOKIE, web_security.cookie_value(TOKEN))
        assert c.get("/api/status").status_code == 200
    assert len(calls) == 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_takes_the_token_from_the_environment_and_never_logs_it(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    make_services: Callable[..., Services],
    tmp_path: Path,
) -> None:
    import uvicorn as uv

    import reidcam.web as web

    built: dict[str, object] = {}

    def fake_build(cfg: object, data_dir: Path, **kwargs: object) -> Services:
        built.update(kwargs)
        return make_services(memory=None, **{k: kwargs[k] for k in ("token", "allowed_hosts")})

    monkeypatch.setattr(web, "build_services", fake_build)
    monkeypatch.setattr(uv.Server, "run", lambda self, *a, **k: built.setdefault("config", self.config))
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    caplog.set_level(logging.DEBUG)
    args = ["serve", "--host", "0.0.0.0", "--port", str(_free_port()), "--data-dir", str(tmp_path / "d")]
    assert main(args) == 0
    assert built["token"] == TOKEN and built["allowed_hosts"] is None
    assert built["config"].access_log is False  # type: ignore[attr-defined]  # URLs may carry ?token=
    out = capsys.readouterr()
    assert "token=<your REIDCAM_TOKEN>" in out.err
    for text in (caplog.text, out.out, out.err):
        assert TOKEN not in text
