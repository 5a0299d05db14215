"""The gateway's proxying of streamed requests, and its answer to an unreachable upstream.

A ``"stream": true`` request is sent with :meth:`HostPool.stream`; an event-stream answer is
relayed as it arrives (:class:`~llm_platform.serving.relay.RelayBody`, written by the server
with chunked encoding), anything else (an error in JSON) is read whole and relayed as before.
"""

from __future__ import annotations

import asyncio
import json
import time

from llm_platform.serving.bodies import response_usage
from llm_platform.serving.faults import FaultSettings, FaultTable
from llm_platform.serving.httpclient import HOP_BY_HOP, HttpClient, UpstreamError
from llm_platform.serving.httpserver import JSON_CONTENT_TYPE, Request, Response, error_response
from llm_platform.serving.metrics import GatewayMetrics
from llm_platform.serving.relay import RelayBody, StreamMeter
from llm_platform.serving.routes import Backend
from llm_platform.serving.streams import StreamedResponse, StreamingResponse


class StreamProxy:
    """Proxies streamed requests to a revision, recording them in the contract metrics.

    Args:
        client: the gateway's pooled upstream client.
        metrics: the contract metrics.
        faults: the revisions' injected faults (stalls and cuts apply to streams).
        timeout_s: the upstream timeout: for a stream's head, then for each silence.
    """

    def __init__(
        self, client: HttpClient, metrics: GatewayMetrics, faults: FaultTable, timeout_s: float
    ) -> None:
        self.client = client
        self.metrics = metrics
        self.faults = faults
        self.upstream_timeout_s = timeout_s

    def unreachable(
        self, backend: Backend, start: float, exc: Exception, *, counted: bool = True
    ) -> Response:
        """Record an upstream that failed before answering; a 504 (timeout) or 502."""
        if counted:
            elapsed = time.perf_counter() - start
            labels = (backend.model, backend.version, backend.color, backend.revision)
            self.metrics.observe(*labels, elapsed, True)
        msg = f"upstream {backend.origin} (revision {backend.revision}) failed: {exc}"
        if isinstance(exc, TimeoutError):
            return error_response(504, msg, "upstream_error", "upstream_timeout")
        return error_response(502, msg, "upstream_error", "upstream_unreachable")

    async def inject(
        self, backend: Backend, faults: FaultSettings, start: float
    ) -> Response | None:
        """Apply a revision's injected latency and errors before proxying; None: proxy it.

        An injected delay is bounded by the upstream timeout as an engine's is: a delay of
        the timeout or more is answered 504 when the timeout expires, and counted.
        """
        if faults.latency_ms:
            delay = faults.latency_ms / 1000.0
            if delay >= self.upstream_timeout_s:
                await asyncio.sleep(self.upstream_timeout_s)
                late = TimeoutError(f"no answer in {self.upstream_timeout_s:g} s (injected)")
                return self.unreachable(backend, start, late)
            await asyncio.sleep(delay)
        if not self.faults.draw(faults.error_rate):
            return None
        labels = (backend.model, backend.version, backend.color, backend.revision)
        self.metrics.observe(*labels, time.perf_counter() - start, True)
        msg = f"injected fault (error_rate={faults.error_rate:g}, {backend.revision})"
        return error_response(500, msg, "server_error", "injected_fault")

    async def stream(
        self, req: Request, backend: Backend, target: bytes, body: bytes, start: float
    ) -> Response | StreamingResponse:
        """Proxy a ``stream: true`` request; the body flows while the engine writes it."""
        labels = (backend.model, backend.version, backend.color, backend.revision)
        try:
            up = await self.client.pool(backend.origin).stream(
                req.method,
                target,
                headers=req.headers,
                body=body,
                timeout_s=self.upstream_timeout_s,
            )
        except (OSError, UpstreamError, TimeoutError) as exc:
            return self.unreachable(backend, start, exc)
        headers = relayed_headers(up.headers, backend)
        if up.status != 200 or not _is_event_stream(up.headers):
            return await self._whole(up, backend, headers, start)
        series = self.metrics.series(*labels)
        meter = StreamMeter(start, series.ttft.observe, series.tpot.observe)

        def on_end(meter: StreamMeter, seconds: float) -> None:
            self.metrics.observe(*labels, seconds, meter.problem is not None, usage=meter.tokens())

        faults = self.faults.get(backend.model, backend.revision)
        relayed = RelayBody(
            up,
            meter,
            idle_timeout_s=self.upstream_timeout_s,
            stall_s=faults.stall_ms / 1000.0,
            cut=self.faults.draw(faults.cut_rate),
            on_end=on_end,
        )
        return StreamingResponse(200, headers, relayed)

    async def _whole(
        self,
        up: StreamedResponse,
        backend: Backend,
        headers: list[tuple[bytes, bytes]],
        start: float,
    ) -> Response:
        """A streamed request answered without an event stream (an error): relayed whole."""
        pieces = []
        try:
            while piece := await up.body.read(self.upstream_timeout_s):
                pieces.append(piece)
        except (UpstreamError, TimeoutError) as exc:
            return self.unreachable(backend, start, exc)
        finally:
            up.release()
        data = b"".join(pieces)
        ok = 200 <= up.status < 300
        self.metrics.observe(
            backend.model,
            backend.version,
            backend.color,
            backend.revision,
            time.perf_counter() - start,
            up.status >= 500,
            completed=ok,
            usage=response_usage(data) if ok else None,
        )
        return Response(up.status, headers, data)


def health_response(model: str, backend: Backend | None) -> Response:
    """``/<model>/health``: 200 while a ready revision is routed (the routes hold only ready
    ones), else 503; answered by the gateway whatever the engine."""
    if backend is None:
        msg = f"model {model!r} has no ready revision with traffic"
        return error_response(503, msg, "unavailable", "no_revision")
    body = {
        "status": "ok",
        "model": model,
        "revision": backend.revision,
        "version": backend.version,
        "engine": backend.policy.limits.engine,
    }
    return Response(200, [JSON_CONTENT_TYPE], json.dumps(body, separators=(",", ":")).encode())


def relayed_headers(
    headers: list[tuple[bytes, bytes]], backend: Backend
) -> list[tuple[bytes, bytes]]:
    """The upstream's end-to-end headers plus the revision that answered."""
    relayed = [h for h in headers if h[0] not in HOP_BY_HOP]
    relayed += (
        (b"x-llm-revision", backend.revision.encode()),
        (b"x-llm-version", backend.version.encode()),
        (b"x-llm-color", backend.color.encode()),
    )
    return relayed


def _is_event_stream(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"text/event-stream"
    return False
