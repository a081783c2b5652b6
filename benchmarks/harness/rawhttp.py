"""A small HTTP/1.1 client on asyncio streams, for the load and soak clients.

Why not httpx: the load benchmark's clients run on the same two cores as the server they
measure, so every cycle they spend is taken from detection and read as the server's cost.
httpx (with httpcore, anyio cancel scopes and h11 per chunk) took 0.12-0.17 of a core for
twenty clients; what a browser does natively (keep-alive GETs, reading a never-ending
response in large pieces) needs a few dozen lines. Only what the benchmarks ask of the
project's own server is supported: Content-Length and chunked bodies, keep-alive, no TLS, no
redirects, no compression.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

READ_SIZE = 256 * 1024


class HttpError(Exception):
    """The request could not be made or its answer could not be read."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _address(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    if parts.scheme != "http" or not parts.hostname:
        raise HttpError(f"only http:// URLs are supported, got {base_url!r}")
    return parts.hostname, parts.port or 80


async def _head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    """The status code and the (lower-cased) headers of the next response."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        raise HttpError("the connection closed before a response head") from exc
    lines = raw.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError) as exc:
        raise HttpError(f"malformed status line {lines[0]!r}") from exc
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def _chunks(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """The decoded pieces of a chunked body, until its last (empty) chunk."""
    while True:
        size_line = await reader.readline()
        if not size_line:
            raise HttpError("the connection closed inside a chunked body")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise HttpError(f"malformed chunk size {size_line[:40]!r}") from exc
        if size == 0:
            await reader.readuntil(b"\r\n")  # no trailers from this server
            return
        data = await reader.readexactly(size + 2)
        yield data[:-2]


def _request_bytes(method: str, path: str, host: str, body: bytes | None, keep_alive: bool) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Accept: */*"]
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


class Connection:
    """One keep-alive connection for requests one after the other (what a page's poller does)."""

    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        self.host, self.port = _address(base_url)
        self.timeout_s = timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, json_body: Any = None) -> Answer:
        body = None if json_body is None else json.dumps(json_body).encode()
        try:
            return await asyncio.wait_for(self._exchange(method, path, body), self.timeout_s)
        except (OSError, asyncio.TimeoutError, HttpError) as exc:
            await self.close()  # a half-read answer must not be read as the next one's
            if isinstance(exc, HttpError):
                raise
            raise HttpError(f"{type(exc).__name__}: {exc}") from exc

    async def _exchange(self, method: str, path: str, body: bytes | None) -> Answer:
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._reader, self._writer
        assert reader is not None
        writer.write(_request_bytes(method, path, f"{self.host}:{self.port}", body, keep_alive=True))
        status, headers = await _head(reader)
        if headers.get("transfer-encoding", "").lower() == "chunked":
            data = b"".join([piece async for piece in _chunks(reader)])
        else:
            data = await reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Answer(status, headers, data)

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def stream(base_url: str, path: str, timeout_s: float = 30.0) -> AsyncGenerator[bytes | int, None]:
    """GET a never-ending response: first its status code, then raw pieces of the body as read.

    The pieces are what the socket gives (chunk framing included): the callers count markers in
    them and throw them away, as a browser's ``<img>`` does with the frames it has shown.

    Raises:
        HttpError: cannot connect, or nothing arrived for ``timeout_s``.
    """
    host, port = _address(base_url)
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (OSError, asyncio.TimeoutError) as exc:
        raise HttpError(f"cannot connect to {host}:{port}: {exc}") from exc
    watchdog = _Watchdog(writer, timeout_s)
    try:
        writer.write(_request_bytes("GET", path, f"{host}:{port}", None, keep_alive=False))
        status, _ = await _head(reader)
        yield status
        while True:
            watchdog.kick()
            try:
                data = await reader.read(READ_SIZE)
            except OSError as exc:
                raise HttpError(f"{type(exc).__name__}: {exc}") from exc
            if watchdog.fired:
                raise HttpError(f"nothing received for {timeout_s:g} s")
            if not data:
                return
            yield data
    finally:
        watchdog.stop()
        writer.close()


class _Watchdog:
    """Aborts a connection that stays silent for ``timeout_s``: one timer re-armed per read,
    not a task per read as ``asyncio.wait_for`` makes."""

    def __init__(self, writer: asyncio.StreamWriter, timeout_s: float) -> None:
        self._writer, self._timeout_s = writer, timeout_s
        self._loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None
        self.fired = False
        self.kick()

    def kick(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_later(self._timeout_s, self._fire)

    def _fire(self) -> None:
        self.fired = True
        self._writer.transport.abort()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()


class MarkerCounter:
    """Counts a marker in a byte stream read in pieces, including one split across two pieces."""

    def __init__(self, marker: bytes) -> None:
        self.marker = marker
        self._tail = b""
        self.count = 0

    def feed(self, data: bytes) -> int:
        """Count the markers that end in ``data``; returns how many."""
        window = self._tail + data
        found = window.count(self.marker)
        self.count += found
        self._tail = window[-(len(self.marker) - 1) :] if len(self.marker) > 1 else b""
        return found
