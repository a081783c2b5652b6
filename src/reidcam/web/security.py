"""Who may use the API: loopback without a token, anything else only with one.

The cameras show people; a server reachable from the network must not show
them to whoever finds the port. Checks are constant-time. Mutating requests
from another origin (a web page the user happens to visit) are refused.
"""

from __future__ import annotations

import ipaddress
import secrets
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, WebSocket, status

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get("token")


def check_token(expected: str | None, request: Request | WebSocket) -> None:
    """Raise 401 unless the request carries ``expected`` (no-op when no token is configured)."""
    if expected is None:
        return
    got = presented_token(request)
    if got is None or not secrets.compare_digest(got.encode(), expected.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong access token: send 'Authorization: Bearer <token>' or ?token=<token>",
            headers={"WWW-Authenticate": "Bearer"},
        )


def check_origin(request: Request) -> None:
    """Refuse state-changing requests whose Origin is another site (CSRF)."""
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin is None:  # not a browser, or a browser that sends no Origin for same-origin requests
        return
    if origin == "null" or urlsplit(origin).netloc != request.headers.get("host", ""):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"cross-origin request from {origin} refused")
