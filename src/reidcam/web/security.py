"""Who may use the API: loopback without a token, anything else only with one.

The cameras show people; a server reachable from the network must not show
them to whoever finds the port. Checks are constant-time. Mutating requests
from another origin (a web page the user happens to visit) are refused.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, Response, WebSocket, status
from fastapi.responses import HTMLResponse

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_COOKIE = "reidcam_token"
_NO_STORE = {"Cache-Control": "no-store"}
_TOKEN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>reidcam: access token</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/style.css"></head>
<body><main style="max-width:28rem;margin:4rem auto">
<h1>reidcam</h1>
<p>This server is reachable from the network, so it needs its access token
(<code>REIDCAM_TOKEN</code> or <code>--token-file</code> of <code>reidcam serve</code>).</p>
<form method="get" action="/">
<label>Access token <input name="token" type="password" autocomplete="current-password" required
autofocus></label> <button type="submit">Open</button></form>
</main></body></html>
"""


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    h = host.strip().strip("[]").lower()
    if h in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def loopback_hosts(port: int) -> list[str]:
    """Host headers a browser sends for a loopback server (for the DNS-rebinding guard)."""
    names = ["localhost", "127.0.0.1", "[::1]"]
    return names + [f"{n}:{port}" for n in names]


def presented_token(request: Request | WebSocket) -> str | None:
    """The token a request carries: ``Authorization: Bearer``, else ``?token=``."""
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get("token")


def cookie_value(token: str) -> str:
    """What the cookie holds: a keyed hash of the token, so the browser never stores the token itself
    (and the value is plain hex, whatever characters the token has)."""
    return hmac.new(token.encode(), b"reidcam-session-cookie", hashlib.sha256).hexdigest()


def token_ok(expected: str | None, request: Request | WebSocket) -> bool:
    """True when no token is configured or the request carries it; comparisons are constant-time."""
    if expected is None:
        return True
    got = presented_token(request)
    if got is not None:
        return secrets.compare_digest(got.encode(), expected.encode())
    cookie = request.cookies.get(TOKEN_COOKIE)
    return cookie is not None and secrets.compare_digest(cookie.encode(), cookie_value(expected).encode())


def check_token(expected: str | None, request: Request | WebSocket) -> None:
    """Raise 401 unless the request carries ``expected`` (no-op when no token is configured)."""
    if not token_ok(expected, request):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong access token: send 'Authorization: Bearer <token>', ?token=<token> "
            "or open the page with ?token=<token> once (it sets a cookie)",
            headers={"WWW-Authenticate": "Bearer"},
        )


def remember_token(request: Request, response: Response, expected: str | None) -> None:
    """Page opened with a right ``?token=``: keep it in a cookie so streams and events need no URL token.

    HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it), Secure over HTTPS.
    """
    if expected is None or request.query_params.get("token") is None:
        return
    response.set_cookie(
        TOKEN_COOKIE,
        cookie_value(expected),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def token_page() -> HTMLResponse:
    """401 page asking for the token; the form sends it back as ``?token=`` to the page."""
    return HTMLResponse(_TOKEN_PAGE, status_code=status.HTTP_401_UNAUTHORIZED, headers=_NO_STORE)


def origin_ok(request: Request | WebSocket) -> bool:
    """False when a browser says the request comes from another site's page (its Origin)."""
    origin = request.headers.get("origin")
    if origin is None:  # not a browser, or a browser that sends no Origin for same-origin requests
        return True
    return origin != "null" and urlsplit(origin).netloc == request.headers.get("host", "")


def check_origin(request: Request) -> None:
    """Refuse state-changing requests whose Origin is another site (CSRF).

    WebSockets are checked whatever they do (``origin_ok``): browsers let any page open one to
    any server, so without the check a site the user visits could watch a loopback server's
    cameras (cross-site WebSocket hijacking).
    """
    if request.method in SAFE_METHODS or origin_ok(request):
        return
    origin = request.headers.get("origin")
    raise HTTPException(status.HTTP_403_FORBIDDEN, f"cross-origin request from {origin} refused")
