"""A minimal HTTP/1.1 server on asyncio protocols and ``httptools`` for the gateway.

The gateway's own CPU per request decides how much throughput it costs next to the model
servers on the same machine. A general ASGI server spends most of that on building and passing
message dictionaries; this server parses with ``httptools`` and calls one coroutine per complete
request, answering with a single write. Requests on one connection are answered in order
(pipelining is allowed, handled one at a time); ``Expect: 100-continue`` is honoured.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections import deque
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import NamedTuple, cast

import httptools

log = logging.getLogger("llm_platform.httpserver")

Headers = list[tuple[bytes, bytes]]


class Request(NamedTuple):
    """One complete request. ``path`` is raw (still percent-encoded); names are lower-case."""

    method: str
    path: bytes
    query: bytes
    headers: Headers
    body: bytes


class Response(NamedTuple):
    """What a handler returns; Content-Length is added by the server."""

    status: int
    headers: Headers
    body: bytes


Handler = Callable[[Request], Awaitable[Response]]

_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}


def serialize(resp: Response, keep_alive: bool) -> bytes:
    """The bytes of a response, with Content-Length (and Connection: close if needed)."""
    parts = [b"HTTP/1.1 %d %s\r\n" % (resp.status, _REASONS.get(resp.status, b"Unknown"))]
    for name, value in resp.headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"content-length: %d\r\n" % len(resp.body))
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts += (b"\r\n", resp.body)
    return b"".join(parts)


class _ServerConnection(asyncio.Protocol):
    def __init__(self, handler: Handler, tracker: set[asyncio.Task[None]]) -> None:
        self.handler = handler
        self.tracker = tracker
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.queue: deque[tuple[Request, bool]] = deque()
        self.busy = False
        self._url: list[bytes] = []
        self._headers: Headers = []
        self._body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reply_and_close(Response(501, [], b"upgrade not supported"))
        except httptools.HttpParserError as exc:
            self._reply_and_close(Response(400, [], f"bad request: {exc}".encode()))

    def connection_lost(self, exc: Exception | None) -> None:
        self.queue.clear()

    def _reply_and_close(self, resp: Response) -> None:
        assert self.transport is not None
        if not self.transport.is_closing():
            self.transport.write(serialize(resp, keep_alive=False))
            self.transport.close()

    # httptools callbacks
    def on_url(self, url: bytes) -> None:
        self._url.append(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        if (b"expect", b"100-continue") in self._headers and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        parsed = httptools.parse_url(b"".join(self._url))
        request = Request(
            self.parser.get_method().decode(),
            parsed.path or b"/",
            parsed.query or b"",
            self._headers,
            b"".join(self._body),
        )
        self._url, self._headers, self._body = [], [], []
        self.queue.append((request, self.parser.should_keep_alive()))
        if not self.busy:
            self.busy = True
            task = asyncio.get_running_loop().create_task(self._drain())
            self.tracker.add(task)
            task.add_done_callback(self.tracker.discard)

    async def _drain(self) -> None:
        assert self.transport is not None
        try:
            while self.queue:
                request, keep_alive = self.queue.popleft()
                try:
                    resp = await self.handler(request)
                except Exception:  # the server boundary: answer 500 and log the traceback
                    log.exception("handler failed for %s %s", request.method, request.path)
                    resp = Response(500, [(b"content-type", b"text/plain")], b"internal error")
                if self.transport.is_closing():
                    return
                self.transport.write(serialize(resp, keep_alive))
                if not keep_alive:
                    self.transport.close()
                    return
        finally:
            self.busy = False


async def serve(
    handler: Handler,
    host: str,
    port: int,
    *,
    on_start: Callable[[], None] | None = None,
    drain_timeout_s: float = 30.0,
) -> None:
    """Serve until SIGTERM/SIGINT, then stop accepting and finish in-flight requests.

    Args:
        handler: coroutine answering each request.
        host: address to bind.
        port: port to bind.
        on_start: called once the socket is listening.
        drain_timeout_s: at most this long is spent finishing in-flight requests on shutdown.
    """
    loop = asyncio.get_running_loop()
    tracker: set[asyncio.Task[None]] = set()
    server = await loop.create_server(
        lambda: _ServerConnection(handler, tracker), host, port, reuse_address=True, backlog=1024
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if on_start is not None:
        on_start()
    try:
        await stop.wait()
    finally:
        server.close()
        if tracker:
            await asyncio.wait(set(tracker), timeout=drain_timeout_s)
