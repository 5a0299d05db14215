"""The pooled upstream client against raw asyncio servers that frame responses differently."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from llm_platform.serving.httpclient import HttpClient, UpstreamError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


async def with_server(handler: Handler, scenario: Callable[[str], Awaitable[None]]) -> None:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        await scenario(f"http://127.0.0.1:{port}")
    finally:
        server.close()


def test_chunked_and_keep_alive_reuse() -> None:
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while not reader.at_eof():
            try:
                req = await read_request(reader)
            except asyncio.IncompleteReadError:
                break
            assert b"\r\nhost: 127.0.0.1:" in req and req.endswith(b"ping")
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                         b"3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n")  # fmt: skip
            await writer.drain()
        writer.close()

    async def scenario(url: str) -> None:
        pool = HttpClient().pool(url)
        for _ in range(3):
            resp = await pool.request("POST", b"/x", body=b"ping")
            assert (resp.status, resp.body) == (200, b"hello")
        assert connections == 1

    asyncio.run(with_server(handler, scenario))


def test_eof_framed_http10_body() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end")
        await writer.drain()
        writer.close()

    async def scenario(url: str) -> None:
        resp = await HttpClient().pool(url).request("GET", b"/")
        assert resp.body == b"until the end"
        assert (b"content-type", b"text/plain") in resp.headers

    asyncio.run(with_server(handler, scenario))


def test_keep_alive_connection_closed_by_server_is_not_reused() -> None:
    served = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        await read_request(reader)
        served += 1
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()  # closes without announcing it, like an idle keep-alive timeout

    async def scenario(url: str) -> None:
        pool = HttpClient().pool(url)
        assert (await pool.request("GET", b"/")).body == b"ok"
        await asyncio.sleep(0.05)
        assert (await pool.request("GET", b"/")).body == b"ok"
        assert served == 2

    asyncio.run(with_server(handler, scenario))


def test_timeout_and_malformed_and_refused() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(0.6)
        writer.close()

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()

    async def expect_timeout(url: str) -> None:
        with pytest.raises(TimeoutError):
            await HttpClient().pool(url).request("GET", b"/", timeout_s=0.2)

    async def expect_malformed(url: str) -> None:
        with pytest.raises(UpstreamError, match="malformed"):
            await HttpClient().pool(url).request("GET", b"/", timeout_s=2)

    asyncio.run(with_server(silent, expect_timeout))
    asyncio.run(with_server(garbage, expect_malformed))

    async def refused() -> None:
        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        with pytest.raises(OSError):
            await HttpClient().pool(f"http://127.0.0.1:{port}").request("GET", b"/")

    asyncio.run(refused())
    with pytest.raises(ValueError, match="http://host:port"):
        HttpClient().pool("https://example.invalid")
