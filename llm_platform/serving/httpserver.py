"""A minimal HTTP/1.1 server on asyncio protocols and ``httptools`` for the gateway.

The gateway's own CPU per request decides how much throughput it costs next to the model
servers on the same machine. A general ASGI server spends most of that on building and passing
message dictionaries; this server parses with ``httptools`` and calls one coroutine per complete
request, answering with a single write. Requests on one connection are answered in order
(pipelining is allowed, handled one at a time); ``Expect: 100-continue`` is honoured. A handler
may return a :class:`~llm_platform.serving.streams.StreamingResponse` instead: its body is
written piece by piece with chunked encoding, waiting while the client's socket buffer is full,
and a client that disconnects cancels the handler's stream (its iterator is closed).

Limits (:class:`~llm_platform.serving.limits.ServerLimits`) are enforced while parsing, before a
handler sees anything: headers and bodies must arrive within their timeouts (else 408 and
close), oversized heads get 431 and bodies 413 (a declared Content-Length over the limit is
refused before a byte of the body is read), idle keep-alive connections are closed, and
connections beyond the limit get 503. Every error the server itself produces is an
OpenAI-shaped JSON body.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from http import HTTPStatus
from typing import Any, NamedTuple, cast

import httptools

from llm_platform.serving.completions import error_body
from llm_platform.serving.limits import ServerLimits
from llm_platform.serving.streams import StreamingResponse

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


Handler = Callable[[Request], Awaitable[Response | StreamingResponse]]

JSON_CONTENT_TYPE = (b"content-type", b"application/json")

_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}


def serialize(resp: Response | StreamingResponse, keep_alive: bool) -> bytes:
    """The bytes of a response, with Content-Length (and Connection: close if needed); only
    the head of a streaming response, announcing chunked encoding."""
    parts = [b"HTTP/1.1 %d %s\r\n" % (resp.status, _REASONS.get(resp.status, b"Unknown"))]
    for name, value in resp.headers:
        parts += (name, b": ", value, b"\r\n")
    if isinstance(resp, StreamingResponse):
        parts.append(b"transfer-encoding: chunked\r\n")
    else:
        parts.append(b"content-length: %d\r\n" % len(resp.body))
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    if isinstance(resp, Response):
        parts.append(resp.body)
    return b"".join(parts)


class _Rejected(Exception):
    """Raised inside a parser callback to stop parsing and answer ``response``."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def error_response(
    status: int, message: str, type_: str, code: str, param: str | None = None
) -> Response:
    """An OpenAI-shaped JSON error response."""
    obj = error_body(message, type_=type_, code=code, param=param)
    body = json.dumps(obj, separators=(",", ":"))
    return Response(status, [JSON_CONTENT_TYPE], body.encode())


class _Shared:
    """State shared by the connections of one server."""

    def __init__(self, handler: Handler, limits: ServerLimits) -> None:
        self.handler = handler
        self.limits = limits
        self.tasks: set[asyncio.Task[None]] = set()
        self.connections = 0


class _ServerConnection(asyncio.Protocol):
    def __init__(self, shared: _Shared) -> None:
        self.shared = shared
        self.limits = shared.limits
        self.handler = shared.handler
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.queue: deque[tuple[Request, bool]] = deque()
        self.busy = False
        self.counted = False
        self.reading = False  # between the first byte of a request and its last
        self._timer: asyncio.TimerHandle | None = None
        self._phase: str | None = None
        self._url: list[bytes] = []
        self._headers: Headers = []
        self._body: list[bytes] = []
        self._head_bytes = 0
        self._body_bytes = 0
        self._writable = asyncio.Event()
        self._writable.set()
        self._streaming: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if self.shared.connections >= self.limits.max_connections:
            msg = f"too many open connections (limit {self.limits.max_connections})"
            self._reply_and_close(
                error_response(503, msg, "server_overloaded", "too_many_connections")
            )
            return
        self.shared.connections += 1
        self.counted = True
        # The first request's headers are due within the header timeout of connecting: a client
        # that connects and sends nothing is treated like one that sends its headers slowly.
        self._arm(self.limits.header_timeout_s, "headers")

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _Rejected):
                self._reply_and_close(exc.__context__.response)
            else:
                raise
        except httptools.HttpParserUpgrade:
            msg = "protocol upgrade is not supported"
            self._reply_and_close(error_response(501, msg, "invalid_request_error", "upgrade"))
        except httptools.HttpParserError as exc:
            msg = f"malformed HTTP request: {exc}"
            self._reply_and_close(error_response(400, msg, "invalid_request_error", "bad_http"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.queue.clear()
        self._cancel_timer()
        self._writable.set()
        if self._streaming is not None:
            self._streaming.cancel()  # nobody reads the rest: stop the stream and its upstream
        if self.counted:
            self.counted = False
            self.shared.connections -= 1

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def _reply_and_close(self, resp: Response) -> None:
        assert self.transport is not None
        self._cancel_timer()
        if not self.transport.is_closing():
            self.transport.write(serialize(resp, keep_alive=False))
            self.transport.close()

    # timers
    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._phase = None

    def _arm(self, seconds: float, phase: str) -> None:
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(seconds, self._expired, phase)
        self._phase = phase

    def _expired(self, phase: str) -> None:
        self._timer = self._phase = None
        if self.transport is None or self.transport.is_closing():
            return
        if phase == "idle":
            self.transport.close()  # an unused keep-alive connection: nothing to answer
            return
        limit = self.limits.header_timeout_s if phase == "headers" else self.limits.body_timeout_s
        msg = f"request {phase} not received within {limit:g} s"
        self._reply_and_close(error_response(408, msg, "invalid_request_error", "request_timeout"))

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.reading = True
        self._head_bytes = self._body_bytes = 0
        if self._phase != "headers":  # a fresh connection's deadline runs from connecting
            self._arm(self.limits.header_timeout_s, "headers")

    def _count_head(self, n: int) -> None:
        self._head_bytes += n
        if self._head_bytes > self.limits.max_header_bytes:
            msg = f"request line and headers exceed {self.limits.max_header_bytes} bytes"
            raise _Rejected(error_response(431, msg, "invalid_request_error", "headers_too_large"))

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        self._url.append(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        limit = self.limits.max_body_bytes
        for name, value in self._headers:
            if name == b"content-length" and value.strip().isdigit() and int(value) > limit:
                raise _Rejected(_too_large(limit))
        self._arm(self.limits.body_timeout_s, "body")
        if (b"expect", b"100-continue") in self._headers and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > self.limits.max_body_bytes:  # chunked bodies have no length
            raise _Rejected(_too_large(self.limits.max_body_bytes))
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.reading = False
        self._cancel_timer()
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
            self.shared.tasks.add(task)
            task.add_done_callback(self.shared.tasks.discard)

    async def _drain(self) -> None:
        assert self.transport is not None
        try:
            while self.queue:
                request, keep_alive = self.queue.popleft()
                try:
                    resp = await self.handler(request)
                except Exception:  # the server boundary: answer 500 and log the traceback
                    log.exception("handler failed for %s %s", request.method, request.path)
                    resp = error_response(500, "internal error", "server_error", "internal_error")
                if self.transport.is_closing():
                    if isinstance(resp, StreamingResponse):
                        await resp.body.aclose()
                    return
                self.transport.write(serialize(resp, keep_alive))
                if isinstance(resp, StreamingResponse):
                    try:
                        await self._write_stream(resp)
                    except Exception as exc:  # headers are out: all that is left is to hang up
                        if not isinstance(exc, ConnectionError):
                            log.exception("stream failed for %s %s", request.method, request.path)
                        self.transport.close()
                        return
                if not keep_alive:
                    self.transport.close()
                    return
        finally:
            self.busy = False
        if not self.reading and not self.transport.is_closing():
            self._arm(self.limits.idle_timeout_s, "idle")

    async def _write_stream(self, resp: StreamingResponse) -> None:
        """Write the body as chunks, waiting for the client's buffer to drain between them."""
        assert self.transport is not None
        self._streaming = asyncio.current_task()
        try:
            async for piece in resp.body:
                if piece:
                    self.transport.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                if not self._writable.is_set():
                    await self._writable.wait()
                if self.transport.is_closing():
                    raise ConnectionResetError("the client went away")
            self.transport.write(b"0\r\n\r\n")
        finally:
            self._streaming = None
            await resp.body.aclose()


def _too_large(limit: int) -> Response:
    msg = f"request body exceeds {limit} bytes"
    return error_response(413, msg, "invalid_request_error", "request_too_large")


async def serve(
    handler: Handler,
    host: str,
    port: int,
    *,
    limits: ServerLimits | None = None,
    on_start: Callable[[], None] | None = None,
    drain_timeout_s: float = 30.0,
) -> None:
    """Serve until SIGTERM/SIGINT, then stop accepting and finish in-flight requests.

    Args:
        handler: coroutine answering each request.
        host: address to bind.
        port: port to bind.
        limits: body size, header size, timeouts and connection limits (defaults if None).
        on_start: called once the socket is listening.
        drain_timeout_s: at most this long is spent finishing in-flight requests on shutdown.
    """
    loop = asyncio.get_running_loop()
    shared = _Shared(handler, limits or ServerLimits())
    server = await loop.create_server(
        lambda: _ServerConnection(shared), host, port, reuse_address=True, backlog=1024
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
        if shared.tasks:
            await asyncio.wait(set(shared.tasks), timeout=drain_timeout_s)


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` to completion on uvloop when installed (else the standard loop).

    Raises:
        OSError: the server could not listen.
    """
    try:
        import uvloop
    except ImportError:  # optional: the standard loop works, somewhat slower
        runner = asyncio.Runner()
    else:
        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    with runner:
        runner.run(main)
