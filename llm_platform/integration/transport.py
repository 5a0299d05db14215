"""One async request API over the fast pooled client (http) or httpx (https)."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from llm_platform.serving.httpclient import HttpClient, UpstreamError

_JSON_HEADERS = [(b"content-type", b"application/json"), (b"accept", b"application/json")]


class RequestFailed(Exception):
    """The request got no HTTP response (refused, reset, timed out, bad TLS, ...)."""


class Transport:
    """Sends requests to paths under one base URL.

    Plain ``http`` uses :class:`~llm_platform.serving.httpclient.HttpClient` (keep-alive pool,
    low CPU per request, so the load generator measures the endpoint rather than itself);
    ``https`` falls back to httpx.

    Args:
        base_url: e.g. ``http://127.0.0.1:8080/my-model`` (a path prefix is kept).
        timeout_s: seconds per request.
        connections: connection pool size for httpx.
    """

    def __init__(self, base_url: str, *, timeout_s: float, connections: int = 8) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{base_url!r}: URL must start with http:// or https:// and a host")
        self.base_url = base_url.rstrip("/")
        self.prefix = parts.path.rstrip("/")
        self.timeout_s = timeout_s
        self._fast: HttpClient | None = None
        self._httpx: httpx.AsyncClient | None = None
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

    async def aclose(self) -> None:
        """Close pooled connections."""
        if self._fast is not None:
            self._fast.close()
        if self._httpx is not None:
            await self._httpx.aclose()
