"""A small pooled HTTP/1.1 client on asyncio protocols and ``httptools``.

The gateway and the integration suite's load generator send many small requests to a few
loopback hosts. General-purpose clients (httpx, requests) spend more CPU per request than the
upstream does, so this client keeps persistent keep-alive connections per host and parses
responses with ``httptools`` directly. It supports what those two callers need: one request at
a time per connection, bodies framed by Content-Length or chunked encoding, a per-request
timeout, and one transparent retry when a reused keep-alive connection turns out to be closed.
:meth:`HostPool.stream` hands a response over at its headers, its body flowing as it arrives
(:class:`~llm_platform.serving.streams.BodyStream`), for Server-Sent Events.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar, cast
from urllib.parse import urlsplit

import httptools

from llm_platform.serving.streams import BodyStream, StreamedResponse

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
        b"expect",  # answered by the gateway itself; an upstream 100 would end the response
    }
)


T = TypeVar("T")
Loop = asyncio.AbstractEventLoop
Waiter = asyncio.Future
#: Status and header pairs of a streamed response, resolved when its headers are in.
Head = tuple[int, list[tuple[bytes, bytes]]]


class UpstreamError(ConnectionError):
    """The upstream closed the connection or sent a malformed response."""


class HttpResponse(NamedTuple):
    """A complete response: status code, raw header pairs (lower-case names) and body."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class _Connection(asyncio.Protocol):
    """One keep-alive connection; carries at most one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.got_bytes = False
        self._parser: httptools.HttpResponseParser | None = None
        self._waiter: asyncio.Future[HttpResponse] | None = None
        self._status = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._keep_alive = True
        self._eof_framed = False
        #: Set while a streamed request runs: the head resolves ``_head``, the body flows here.
        self.body: BodyStream | None = None
        self._head: Waiter[Head] | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self._parser is None:
            self.close()  # bytes nobody asked for: the connection is unusable
            return
        self.got_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError(f"malformed HTTP response from upstream: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if exc is None and self._eof_framed and self._parser is not None:
            # No Content-Length and not chunked: the body ends with the connection (HTTP/1.0).
            self._keep_alive = False
            self.on_message_complete()
            return
        error = UpstreamError(f"upstream closed the connection: {exc or 'EOF'}")
        if self.body is not None and self._parser is not None:
            self.body.fail(error)
        self._fail(error)

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        self._status = self._parser.get_status_code()
        self._keep_alive = self._parser.should_keep_alive()
        names = {name for name, _ in self._headers}
        self._eof_framed = (
            b"content-length" not in names
            and b"transfer-encoding" not in names
            and self._status >= 200
            and self._status not in (204, 304)
        )
        head = self._head
        if head is not None and not head.done():
            assert self.transport is not None
            self.body = BodyStream(self.transport)
            head.set_result((self._status, self._headers))

    def on_body(self, body: bytes) -> None:
        if self.body is not None:
            self.body.push(body)
        else:
            self._body.append(body)

    def on_message_complete(self) -> None:
        waiter = self._waiter
        self._parser = None
        if self.body is not None:
            self.body.finish()
            return
        if waiter is not None and not waiter.done():
            waiter.set_result(HttpResponse(self._status, self._headers, b"".join(self._body)))

    # internal API
    def _fail(self, exc: BaseException) -> None:
        self._parser = None
        for waiter in (self._waiter, self._head):
            if waiter is not None and not waiter.done():
                waiter.set_exception(exc)

    def _start(self, data: bytes) -> None:
        assert self.transport is not None
        self._status, self._headers, self._body = 0, [], []
        self._keep_alive = True
        self._eof_framed = False
        self.got_bytes = False
        self.body = self._head = None
        self._parser = httptools.HttpResponseParser(self)
        self.transport.write(data)

    def send(self, loop: Loop, data: bytes) -> Waiter[HttpResponse]:
        self._waiter = loop.create_future()
        self._start(data)
        return self._waiter

    def send_streamed(self, loop: Loop, data: bytes) -> Waiter[Head]:
        self._waiter = None
        self._start(data)
        self._head = head = loop.create_future()
        return head

    @property
    def reusable(self) -> bool:
        return not self.closed and self._keep_alive and self._parser is None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class HostPool:
    """Keep-alive connections to one ``host:port``.

    Args:
        host: upstream host name or IP.
        port: upstream TCP port.
        max_idle: connections kept open while idle; extra ones are closed after use.
        idle_timeout_s: an idle connection older than this is not reused (servers close idle
            keep-alive connections, uvicorn after 5 s by default).
    """

    def __init__(
        self, host: str, port: int, *, max_idle: int = 256, idle_timeout_s: float = 4.0
    ) -> None:
        self.host = host
        self.port = port
        self.max_idle = max_idle
        self.idle_timeout_s = idle_timeout_s
        self._host_header = f"{host}:{port}".encode()
        self._idle: deque[tuple[float, _Connection]] = deque()

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        _, conn = await loop.create_connection(_Connection, self.host, self.port)
        return conn

    def _take_idle(self, now: float) -> _Connection | None:
        while self._idle:
            since, conn = self._idle.pop()
            if conn.closed:
                continue
            if now - since > self.idle_timeout_s:
                conn.close()
                continue
            return conn
        return None

    def build(
        self,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> bytes:
        """Serialize a request; hop-by-hop headers in ``headers`` are dropped."""
        parts = [method.encode(), b" ", target, b" HTTP/1.1\r\nhost: ", self._host_header]
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP:
                parts += (b"\r\n", name, b": ", value)
        parts += (b"\r\ncontent-length: ", str(len(body)).encode(), b"\r\n\r\n", body)
        return b"".join(parts)

    async def request(
        self,
        method: str,
        target: bytes,
        *,
        headers: list[tuple[bytes, bytes]] | None = None,
        body: bytes = b"",
        timeout_s: float = 60.0,
    ) -> HttpResponse:
        """Send one request and wait for the complete response.

        Args:
            method: HTTP method, e.g. ``"POST"``.
            target: request target (path plus optional ``?query``), already encoded.
            headers: extra request headers (names any case; hop-by-hop ones are dropped).
            body: request body.
            timeout_s: seconds to wait for the complete response.

        Returns:
            The response.

        Raises:
            OSError: the connection could not be made (e.g. ConnectionRefusedError).
            UpstreamError: the connection broke or the response was malformed.
            TimeoutError: no complete response within ``timeout_s``.
        """
        data = self.build(method, target, headers or [], body)
        conn, resp = await self._exchange(data, timeout_s, _Connection.send)
        if conn.reusable and len(self._idle) < self.max_idle:
            self._idle.append((asyncio.get_running_loop().time(), conn))
        else:
            conn.close()
        return resp

    async def stream(
        self,
        method: str,
        target: bytes,
        *,
        headers: list[tuple[bytes, bytes]] | None = None,
        body: bytes = b"",
        timeout_s: float = 60.0,
    ) -> StreamedResponse:
        """Send one request and return as soon as the response's headers are in.

        Read the body with ``response.body.read(...)``, then call ``response.release()`` once
        (the connection is kept when the body was read to its end, else closed).

        Raises:
            OSError, UpstreamError, TimeoutError: as :meth:`request`, for the head.
        """
        data = self.build(method, target, headers or [], body)
        conn, head = await self._exchange(data, timeout_s, _Connection.send_streamed)
        assert conn.body is not None
        return StreamedResponse(head[0], head[1], conn.body, lambda: self._release(conn))

    async def _exchange(
        self, data: bytes, timeout_s: float, send: Callable[[_Connection, Loop, bytes], Waiter[T]]
    ) -> tuple[_Connection, T]:
        loop = asyncio.get_running_loop()
        conn = self._take_idle(loop.time())
        reused = conn is not None
        if conn is None:
            conn = await self._connect(loop)
        while True:
            waiter = send(conn, loop, data)
            timer = loop.call_later(timeout_s, _expire, waiter, timeout_s)
            try:
                return conn, await waiter
            except UpstreamError:
                conn.close()
                if reused and not conn.got_bytes:
                    # A stale keep-alive connection the server had closed: retry once, fresh.
                    reused = False
                    conn = await self._connect(loop)
                    continue
                raise
            except BaseException:
                conn.close()  # timeout or cancellation: the response may still arrive
                raise
            finally:
                timer.cancel()

    def _release(self, conn: _Connection) -> None:
        body = conn.body
        conn.body = None
        reuse = body is not None and body.complete and conn.reusable
        if reuse and len(self._idle) < self.max_idle:
            self._idle.append((asyncio.get_running_loop().time(), conn))
        else:
            conn.close()

    def close(self) -> None:
        """Close every idle connection (in-flight ones close when their request ends)."""
        while self._idle:
            self._idle.pop()[1].close()


def _expire(waiter: asyncio.Future[Any], timeout_s: float) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError(f"no complete response within {timeout_s:g} s"))


class HttpClient:
    """Pools per upstream origin (``http://host:port``); only plain ``http`` is supported."""

    def __init__(self, *, max_idle_per_host: int = 256, idle_timeout_s: float = 4.0) -> None:
        self._pools: dict[str, HostPool] = {}
        self._max_idle = max_idle_per_host
        self._idle_timeout_s = idle_timeout_s

    def pool(self, origin: str) -> HostPool:
        """The pool for ``origin`` (created on first use).

        Raises:
            ValueError: the origin is not an ``http://host:port`` URL.
        """
        pool = self._pools.get(origin)
        if pool is None:
            parts = urlsplit(origin)
            if parts.scheme != "http" or not parts.hostname:
                raise ValueError(f"{origin!r}: upstream URL must look like http://host:port")
            pool = HostPool(
                parts.hostname,
                parts.port or 80,
                max_idle=self._max_idle,
                idle_timeout_s=self._idle_timeout_s,
            )
            self._pools[origin] = pool
        return pool

    def close(self) -> None:
        """Close the idle connections of every pool."""
        for pool in self._pools.values():
            pool.close()
