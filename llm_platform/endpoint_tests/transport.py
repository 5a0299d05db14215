"""One async request API over the fast pooled client (http) or httpx (https), plus streams."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import httpx

from llm_platform.serving.httpclient import HttpClient, UpstreamError

_JSON_HEADERS = [(b"content-type", b"application/json"), (b"accept", b"application/json")]


class RequestFailed(Exception):
    """The request got no HTTP response (refused, reset, timed out, bad TLS, ...)."""


_STREAM_HEADERS = {"content-type": "application/json", "accept": "text/event-stream"}


class StreamResponse:
    """A response whose body is read as it arrives (see :meth:`Transport.stream`)."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.content_type = response.headers.get("content-type", "")

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's bytes, chunk by chunk as received.

        Raises:
            RequestFailed: the connection broke before the body ended.
        """
        try:
            async for chunk in self._response.aiter_bytes():
                yield chunk
        except (OSError, httpx.HTTPError) as exc:
            raise _failed("body cut off", exc) from exc

    async def head(self, limit: int = 2048) -> bytes:
        """Up to ``limit`` bytes of the body (for an error message); never waits for more."""
        got = b""
        async for chunk in self.chunks():
            got += chunk
            if len(got) >= limit:
                break
        return got[:limit]


def _failed(what: str, exc: BaseException) -> RequestFailed:
    kind = type(exc).__name__
    return RequestFailed(f"{what}: {kind}: {exc}" if str(exc) else f"{what}: {kind}")


class Transport:
    """Sends requests to paths under one base URL.

    Plain ``http`` uses :class:`~llm_platform.serving.httpclient.HttpClient` (keep-alive pool,
    low CPU per request, so the load generator measures the endpoint rather than itself);
    ``https`` falls back to httpx.

    Args:
        base_url: e.g. ``http://127.0.0.1:8080/my-model`` (a path prefix is kept).
        timeout_s: seconds per request.
        connections: connection pool size for httpx.
        streaming: also prepare an httpx client for :meth:`stream` (httpx streams for ``http``
            too: the fast client only returns complete bodies).
    """

    def __init__(
        self, base_url: str, *, timeout_s: float, connections: int = 8, streaming: bool = False
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{base_url!r}: URL must start with http:// or https:// and a host")
        self.base_url = base_url.rstrip("/")
        self.prefix = parts.path.rstrip("/")
        self.timeout_s = timeout_s
        self._fast: HttpClient | None = None
        self._httpx: httpx.AsyncClient | None = None
        self._streams: httpx.AsyncClient | None = None
        if streaming:
            # Built now, not on first use: creating an httpx client (its TLS context) takes
            # long enough to distort the first stream's time to first token.
            limits = httpx.Limits(max_connections=connections)
            self._streams = httpx.AsyncClient(timeout=timeout_s, limits=limits)
        if parts.scheme == "http":
            self._fast = HttpClient()
            self._origin = f"http://{parts.netloc}"
        else:
            limits = httpx.Limits(max_connections=connections)
            self._httpx = httpx.AsyncClient(timeout=timeout_s, limits=limits)

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        """Send ``method`` to ``base_url + path``; return (status, body).

        Raises:
            RequestFailed: no HTTP response was received; the message says why.
        """
        try:
            if self._fast is not None:
                target = (self.prefix + path).encode()
                resp = await self._fast.pool(self._origin).request(
                    method, target, headers=_JSON_HEADERS, body=body, timeout_s=self.timeout_s
                )
                return resp.status, resp.body
            assert self._httpx is not None
            r = await self._httpx.request(
                method,
                self.base_url + path,
                content=body or None,
                headers={"content-type": "application/json"},
            )
            return r.status_code, r.content
        except (OSError, UpstreamError, TimeoutError, httpx.HTTPError) as exc:
            kind = type(exc).__name__
            raise RequestFailed(f"{kind}: {exc}" if str(exc) else kind) from exc

    @asynccontextmanager
    async def stream(self, path: str, body: bytes) -> AsyncIterator[StreamResponse]:
        """POST ``body`` to ``base_url + path`` and yield the response before its body is read.

        There is no overall deadline here: the caller bounds the whole exchange (for example
        with :func:`asyncio.timeout`), because only it knows when a stream has lasted too long.
        httpx's own timeouts (``timeout_s`` per connect and per read) are a backstop that never
        fires before such a deadline of ``timeout_s``.

        Raises:
            RequestFailed: no HTTP response was received; the message says why.
            RuntimeError: the transport was not built with ``streaming=True``.
        """
        if self._streams is None:
            raise RuntimeError("Transport(streaming=True) is needed to stream")
        request = self._streams.build_request(
            "POST", self.base_url + path, content=body, headers=_STREAM_HEADERS
        )
        try:
            response = await self._streams.send(request, stream=True)
        except (OSError, httpx.HTTPError) as exc:
            raise _failed("no response", exc) from exc
        try:
            yield StreamResponse(response)
        finally:
            await response.aclose()

    async def warm_up(self, path: str) -> None:
        """GET ``path`` through the streaming client and ignore the answer.

        httpx imports its HTTP and async back-ends on the first request (hundreds of ms on a
        busy machine); doing that here keeps it out of the first stream's time to first token.
        Failures are ignored on purpose: the tests that follow report an unreachable endpoint.
        """
        if self._streams is None:
            raise RuntimeError("Transport(streaming=True) is needed to stream")
        try:
            await self._streams.get(self.base_url + path)
        except (OSError, httpx.HTTPError):
            pass

    async def aclose(self) -> None:
        """Close pooled connections."""
        if self._fast is not None:
            self._fast.close()
        if self._httpx is not None:
            await self._httpx.aclose()
        if self._streams is not None:
            await self._streams.aclose()
