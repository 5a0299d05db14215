"""The gateway's proxying of streamed requests, and its answer to an unreachable upstream.

A ``"stream": true`` request is sent with :meth:`HostPool.stream`; an event-stream answer is
relayed as it arrives (:class:`~llm_platform.serving.relay.RelayBody`, written by the server
with chunked encoding), anything else (an error in JSON) is read whole and relayed as before.
"""

from __future__ import annotations

import time

from llm_platform.serving.bodies import response_usage
from llm_platform.serving.faults import FaultTable
from llm_platform.serving.httpclient import HOP_BY_HOP, HttpClient, UpstreamError
from llm_platform.serving.httpserver import Request, Response, error_response
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
