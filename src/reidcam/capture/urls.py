"""URL helpers for camera sources: recognise stream URLs and keep passwords out of logs.

Camera URLs routinely carry credentials (``rtsp://admin:secret@10.0.0.5/stream``).
Every log line, status description and error message that names a source goes
through :func:`redact_url`, so a screenshot of the UI or a pasted log never leaks
them.
"""

from __future__ import annotations

import re

#: URL schemes opened as live streams (through OpenCV's FFmpeg backend).
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https")

_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# Query parameters that carry secrets in camera URLs (Dahua, Hikvision, MJPEG servers, tokens).
_SECRET_QUERY_RE = re.compile(
    r"([?&;](?:password|passwd|pwd|pass|token|access_token|auth|key|api_key|apikey|secret|sig|signature)=)"
    r"[^&;#]*",
    re.IGNORECASE,
)
_URL_IN_TEXT_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
MASK = "***"


def url_scheme(source: str) -> str | None:
    """The lower-cased scheme of ``source`` (``"rtsp"``), or None if it is not a URL."""
    m = _SCHEME_RE.match(source.strip())
    return m.group(1).lower() if m else None


def is_stream_url(source: str) -> bool:
    """True if ``source`` is a URL of a kind opened as a live stream (rtsp, rtmp, http(s))."""
    return url_scheme(source) in STREAM_SCHEMES


def redact_url(url: str) -> str:
    """Replace the password (and secret query parameters) of a URL by ``***``.

    ``rtsp://user:pass@host/x`` becomes ``rtsp://user:***@host/x``; a string that is
    not a URL is returned unchanged. The last ``@`` ends the user info, so a password
    with an unescaped ``@`` is still hidden; erring towards hiding too much is
    deliberate.

    Args:
        url: any source string (URL, path, device index as text).

    Returns:
        The same string with secrets masked.
    """
    m = _SCHEME_RE.match(url)
    if not m:
        return url
    head, rest = url[: m.end()], url[m.end() :]
    at = rest.rfind("@")
    if at >= 0:
        userinfo, hostpart = rest[:at], rest[at + 1 :]
        user, sep, _password = userinfo.partition(":")
        if sep:
            rest = f"{user}:{MASK}@{hostpart}"
    return head + _SECRET_QUERY_RE.sub(lambda q: q.group(1) + MASK, rest)


def redact_text(text: str) -> str:
    """Redact every URL inside free text, such as an exception message quoting a source."""
    return _URL_IN_TEXT_RE.sub(lambda m: redact_url(m.group(0)), text)


def describe_source(source: int | str) -> str:
    """A human-readable, secret-free name of a source for logs and the UI."""
    if isinstance(source, int):
        return f"USB camera {source}"
    return redact_url(source)
