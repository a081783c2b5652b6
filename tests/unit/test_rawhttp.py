"""The benchmarks' small HTTP client against real sockets on 127.0.0.1 served by the test."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from harness.rawhttp import Connection, HttpError, MarkerCounter, stream

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def _server(handler: Handler) -> AsyncIterator[str]:
    srv = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.close()


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    length = next(
        (int(line.split(":")[1]) for line in head.split("\r\n") if line.lower().startswith("content-length")),
        0,
    )
    return head.split("\r\n")[0], await reader.readexactly(length)


def test_keep_alive_requests_with_length_and_chunked_bodies() -> None:
    seen: list[str] = []
    connections: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        while True:
            try:
                line, body = await _read_request(reader)
            except asyncio.IncompleteReadError:
                return
            seen.append(f"{line} {body.decode()}")
            if "chunked" in line:
                writer.write(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b'4\r\n{"a"\r\n5;ext=1\r\n: 12}\r\n0\r\n\r\n'
                )
            else:
                writer.write(b'HTTP/1.1 404 Not Found\r\nContent-Length: 17\r\n\r\n{"detail": "no"}\n')
            await writer.drain()

    async def go() -> None:
        async with _server(handler) as url:
            http = Connection(url)
            first = await http.request("GET", "/chunked")
            second = await http.request("POST", "/missing", {"x": 1})
            await http.close()
        assert first.status == 200 and first.json() == {"a": 12}
        assert second.status == 404 and second.json() == {"detail": "no"}

    asyncio.run(go())
    assert seen == ["GET /chunked HTTP/1.1 ", 'POST /missing HTTP/1.1 {"x": 1}']
    assert len(connections) == 1  # both requests on one kept-alive connection


def test_refused_and_silent_servers_are_errors_not_hangs() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line, _ = await _read_request(reader)
        if "/stream" in line:
            writer.write(b"HTTP/1.1 200 OK\r\n\r\nfirst")
            await writer.drain()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(5)  # then nothing, without closing

    async def go() -> None:
        async with _server(silent) as url:
            got: list[bytes | int] = []
            with pytest.raises(HttpError, match=r"nothing received for 0\.3 s"):
                async with contextlib.aclosing(stream(url, "/stream", timeout_s=0.3)) as pieces:
                    async for piece in pieces:
                        got.append(piece)
            assert got == [200, b"first"]
            with pytest.raises(HttpError, match="TimeoutError"):
                await Connection(url, timeout_s=0.3).request("GET", "/")
        with pytest.raises(HttpError):
            await Connection(url).request("GET", "/")  # the server is gone: refused
        with pytest.raises(HttpError, match="cannot connect"):
            async with contextlib.aclosing(stream(url, "/stream")) as pieces:
                async for _ in pieces:
                    pass

    asyncio.run(go())


def test_a_stream_that_ends_just_ends() -> None:
    async def short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    async def go() -> list[bytes | int]:
        async with _server(short) as url, contextlib.aclosing(stream(url, "/s")) as pieces:
            return [piece async for piece in pieces]

    assert asyncio.run(go()) == [503]


def test_markers_split_across_pieces_are_counted_once() -> None:
    marker = b"Content-Type: image/jpeg"
    data = (b"--b\r\n" + marker + b"\r\n\r\nJPEG") * 5
    for cut in range(1, 40):  # every way of cutting the stream into pieces of this size
        counter = MarkerCounter(marker)
        for i in range(0, len(data), cut):
            counter.feed(data[i : i + cut])
        assert counter.count == 5, cut
    assert MarkerCounter(b"x").feed(b"axbxx") == 3
