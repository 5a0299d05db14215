"""The local gateway: routes a model's OpenAI requests to its revisions by weight.

Run as ``python -m llm_platform.serving.gateway --routes FILE --namespace ENV --host H --port N``;
as a pod's sidecar in front of one engine, ``--upstream URL --model M --version V --revision R
--color C [--faults JSON]`` replaces ``--routes``: that one route, and every path is the
engine's own (``/v1/...``, no ``/<model>`` prefix), so the pod's clients see the engine's URLs.
It runs on uvloop with a small httptools-based server and a pooled keep-alive upstream client, so
the added latency per request stays well under a millisecond. Only the model's routes are
served (:mod:`llm_platform.serving.gateway_paths`); completions and chat bodies are checked by
the request contract (:mod:`llm_platform.serving.request_contract`) before any engine sees
them, and recorded in the contract metrics; admin endpoints are ``/-/health``, ``/-/routes``
and ``/metrics``. ``/<model>@<revision>/...``
reaches one revision whatever its weight (smoke tests of a new revision meet its faults).
A ``"stream": true`` request is relayed as Server-Sent Events while the engine produces them
(:mod:`llm_platform.serving.relay`): never buffered, paced by the client, abandoned upstream
when the client goes away. Each revision's injected faults (:mod:`llm_platform.serving.faults`)
are applied here, before and while proxying, so drills work with every engine. A model's shadow
revision gets background copies of its share of non-streamed requests
(:mod:`llm_platform.serving.shadow`; pairs at ``/-/shadow/<model>``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import sys
import time
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, disable_created_metrics, generate_latest
from pydantic import ValidationError

from llm_platform.common.errors import ConfigurationError
from llm_platform.serving.admission import (
    QUEUE_MAX,
    QUEUE_TIMEOUT_S,
    Admission,
    Overloaded,
    Ticket,
    add_queue_arguments,
)
from llm_platform.serving.bodies import response_usage
from llm_platform.serving.completions import ClientError
from llm_platform.serving.faults import NO_FAULTS, FaultSettings, FaultTable
from llm_platform.serving.gateway_paths import ENDPOINTS, HEALTH_PATH, parse_model_path
from llm_platform.serving.httpclient import HttpClient, UpstreamError
from llm_platform.serving.httpserver import (
    JSON_CONTENT_TYPE,
    Request,
    Response,
    error_response,
    run,
    serve,
)
from llm_platform.serving.limits import ServerLimits, add_limit_arguments, limits_from_arguments
from llm_platform.serving.metrics import GatewayMetrics
from llm_platform.serving.request_contract import check_request, json_headers
from llm_platform.serving.routes import Backend, RevisionRoute, RoutesWatcher, StaticRoutes
from llm_platform.serving.shadow import ShadowRecorder
from llm_platform.serving.stream_proxy import StreamProxy, health_response, relayed_headers
from llm_platform.serving.streams import StreamingResponse

log = logging.getLogger("llm_platform.gateway")


def _json(status: int, obj: object) -> Response:
    return Response(status, [JSON_CONTENT_TYPE], json.dumps(obj, separators=(",", ":")).encode())


class Gateway:
    """Request handling of the gateway (transport-independent).

    Args:
        watcher: the routes file watcher (polled by :meth:`poll_forever`), or a fixed table.
        namespace: environment name put on every metric (``namespace`` label).
        mounted: the model every path belongs to (a sidecar: no ``/<model>`` prefix).
        upstream_timeout_s: seconds an upstream may take for a complete response (then 504);
            for a stream, for its head and then for each silence between its pieces.
        seed: seed of the weighted choice and of the injected-fault draws (None: random).
        queue_max: requests that may wait for a replica slot, per revision (then 503).
        queue_timeout_s: longest wait for a replica slot (then 503).
    """

    def __init__(
        self,
        watcher: RoutesWatcher | StaticRoutes,
        *,
        namespace: str,
        mounted: str | None = None,
        upstream_timeout_s: float = 120.0,
        seed: int | None = None,
        queue_max: int = QUEUE_MAX,
        queue_timeout_s: float = QUEUE_TIMEOUT_S,
    ) -> None:
        self.watcher = watcher
        self.namespace = namespace
        self.mounted = mounted
        self.upstream_timeout_s = upstream_timeout_s
        self.metrics = GatewayMetrics(namespace)
        self.client = HttpClient()
        self.rng = random.Random(seed)
        self.faults = FaultTable(seed)
        self.faults.update(watcher.table.fault_sources())
        self.proxy = StreamProxy(self.client, self.metrics, self.faults, upstream_timeout_s)
        self.shadow = ShadowRecorder(self.client, self.faults, upstream_timeout_s)
        self.admission = Admission(
            namespace, self.metrics.registry, queue_max=queue_max, queue_timeout_s=queue_timeout_s
        )

    async def poll_forever(self, interval_s: float) -> None:
        """Reload the routes file whenever it changes (invalid files keep the old table), and
        the fault files."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                if self.watcher.poll():
                    log.warning("routes reloaded from %s", self.watcher.path)
                    self.faults.update(self.watcher.table.fault_sources())
            except ConfigurationError as exc:
                log.error("keeping the previous routes: %s", exc)
            self.faults.refresh()

    def _admin(self, path: bytes) -> Response:
        if path == b"/-/health":
            return _json(200, {"status": "ok"})
        if path == b"/-/load":  # read by the supervisor's liveness (serving.admission)
            return _json(200, self.admission.load())
        if path == b"/-/routes":
            return _json(
                200,
                {
                    "namespace": self.namespace,
                    "routes_file": str(self.watcher.path),
                    "generation": self.watcher.generation,
                    "error": self.watcher.error,
                    "fault_file_errors": self.faults.errors(),
                    **self.watcher.table.spec.model_dump(),
                },
            )
        return error_response(
            404, f"no admin endpoint {path.decode(errors='replace')}", "not_found", "404"
        )

    async def handle(self, req: Request) -> Response | StreamingResponse:
        """Answer one request: admin, metrics, or proxy to a revision of the model."""
        path = req.path
        if path.startswith(b"/-/shadow/"):  # paired shadow measurements (serving.shadow)
            return _json(200, self.shadow.report(path[10:].decode(errors="replace"), req.query))
        if path.startswith(b"/-/"):
            return self._admin(path)
        if path == b"/metrics":
            for model, routes in self.watcher.table.spec.models.items():
                for r in routes.revisions:
                    self.metrics.prepare(model, r.version, r.color, r.revision)
            body = generate_latest(self.metrics.registry)
            return Response(200, [(b"content-type", CONTENT_TYPE_LATEST.encode())], body)
        route = parse_model_path(path, self.mounted)
        if route is None:
            msg = f"no route {path.decode(errors='replace')[:200]}"
            return error_response(404, msg, "invalid_request_error", "not_found")
        if req.method not in ENDPOINTS[route.endpoint]:
            msg = f"{route.endpoint.decode()} answers {', '.join(ENDPOINTS[route.endpoint])}"
            return error_response(405, msg, "invalid_request_error", "method_not_allowed")
        model, revision = route.model, route.revision
        router = self.watcher.table.routers.get(model)
        if router is None:
            msg = f"model {model!r} is not routed by this gateway ({self.namespace})"
            return error_response(404, msg, "not_found", "model_not_found")
        counted = route.kind is not None
        start = time.perf_counter()
        if revision:  # /<model>@<revision>/...: that revision, whatever its weight
            backend = router.pin(revision, self.rng)
            if backend is None:
                msg = f"model {model!r} has no revision {revision!r} in the routes"
                return error_response(404, msg, "not_found", "revision_not_found")
        else:
            backend = router.pick(self.rng)
        if route.endpoint == HEALTH_PATH:
            return health_response(model, backend)
        if backend is None:
            if counted:
                self.metrics.observe(model, "none", "none", "none", 0.0, True)
            msg = f"model {model!r} has no revision with traffic weight > 0"
            return error_response(503, msg, "unavailable", "no_revision")
        target = route.endpoint  # canonical: the raw path and query are never forwarded
        body, streamed = req.body, False
        if route.kind is not None:
            checked = check_request(body, route.kind, model, backend.policy)
            if isinstance(checked, ClientError):  # refused before proxying: in no series
                return error_response(
                    400, checked.message, "invalid_request_error", checked.code, checked.param
                )
            body, streamed = checked.body, checked.stream
            req = req._replace(headers=json_headers(req.headers))
        ticket: Ticket | None = None
        if counted:  # a slot on a replica of the revision, or a bounded wait for one
            admitted = await self.admission.admit(backend, router.replicas(backend.revision))
            if isinstance(admitted, Overloaded):
                return self.admission.refuse(self.metrics, backend, admitted, start)
            ticket, backend = admitted, admitted.backend
        # A copy for the shadow revision (never for pinned or streamed requests).
        mirror = router.shadow(self.rng) if counted and not revision and not streamed else None
        try:
            resp = await self._forward(
                req, backend, target, body, streamed, start, counted, mirror=mirror
            )
        except BaseException:
            if ticket is not None:
                ticket.release()
            raise
        return self.admission.hold(resp, ticket)

    async def _forward(
        self,
        req: Request,
        backend: Backend,
        target: bytes,
        body: bytes,
        streamed: bool,
        start: float,
        counted: bool,
        *,
        mirror: Backend | None = None,
    ) -> Response | StreamingResponse:
        """Proxy the request to ``backend`` (holding its slot) and record it; injected faults
        act here, as a slow or failing engine would; ``mirror``, the shadow revision, gets a
        copy without the client waiting for it."""
        model = backend.model
        faults = self.faults.get(model, backend.revision)
        if counted and faults.active:
            failed = await self.proxy.inject(backend, faults, start)
            if failed is not None:
                return failed
        if streamed:
            return await self.proxy.stream(req, backend, target, body, start)
        copy = self.shadow.start(model, mirror, target, req.headers, body) if mirror else None
        try:
            resp = await self.client.pool(backend.origin).request(
                req.method,
                target,
                headers=req.headers,
                body=body,
                timeout_s=self.upstream_timeout_s,
            )
        except (OSError, UpstreamError, TimeoutError) as exc:
            return self.proxy.unreachable(backend, start, exc, counted=counted)
        if copy is not None:
            copy.production_done(backend, time.perf_counter() - start, resp.status, resp.body)
        if counted:
            ok = 200 <= resp.status < 300
            self.metrics.observe(
                model,
                backend.version,
                backend.color,
                backend.revision,
                time.perf_counter() - start,
                resp.status >= 500,
                completed=ok,
                usage=response_usage(resp.body) if ok else None,
            )
        return Response(resp.status, relayed_headers(resp.headers, backend), resp.body)


async def _run(
    gateway: Gateway, host: str, port: int, poll_interval_s: float, limits: ServerLimits
) -> None:
    poller = asyncio.create_task(gateway.poll_forever(poll_interval_s))
    try:
        await serve(
            gateway.handle,
            host,
            port,
            limits=limits,
            on_start=lambda: log.info(
                "gateway (%s) listening on %s:%d", gateway.namespace, host, port
            ),  # fmt: skip
        )
    finally:
        poller.cancel()
        gateway.client.close()


def _static_routes(args: argparse.Namespace) -> StaticRoutes:
    """The one route of ``--upstream`` (ValueError naming missing flags; ValidationError)."""
    missing = [f"--{f}" for f in ("model", "version", "revision") if not getattr(args, f)]
    if missing:
        raise ValueError(f"--upstream needs {', '.join(missing)}")
    faults = NO_FAULTS if args.faults is None else FaultSettings.model_validate_json(args.faults)
    route = RevisionRoute(
        revision=args.revision, version=args.version, color=args.color, url=args.upstream,
        weight=100, faults=faults, engine=args.engine, context_size=args.context_size,
        extensions=[x for x in (args.extensions or "").split(",") if x],
    )  # fmt: skip
    return StaticRoutes(args.model, route)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see module docstring); returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m llm_platform.serving.gateway")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--routes", type=Path, help="routes JSON file")
    source.add_argument("--upstream", help="one engine's URL (a sidecar; needs --model ...)")
    for flag in ("--model", "--version", "--revision"):
        parser.add_argument(flag, help="with --upstream: the route's metric label")
    parser.add_argument("--color", default="", help="with --upstream: the route's color")
    parser.add_argument(
        "--faults", help='with --upstream: injected faults, JSON {"latency_ms": X, "error_rate": P}'
    )
    parser.add_argument("--engine", help="with --upstream: the engine (its request contract)")
    parser.add_argument("--context-size", type=int, help="with --upstream: context in tokens")
    parser.add_argument("--extensions", help="with --upstream: enabled extensions, a,b,...")
    parser.add_argument("--namespace", required=True, help="environment, e.g. staging")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--poll-interval", type=float, default=0.5, help="seconds")
    parser.add_argument("--upstream-timeout", type=float, default=120.0, help="seconds")
    parser.add_argument("--seed", type=int, default=None, help="seed of the weighted choice")
    add_queue_arguments(parser)
    add_limit_arguments(parser)
    args = parser.parse_args(argv)
    try:
        limits = limits_from_arguments(args)
    except ValidationError as exc:
        sys.stderr.write(f"gateway: invalid limits: {exc}\n")
        return 2
    disable_created_metrics()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    watcher: RoutesWatcher | StaticRoutes
    if args.upstream is not None:
        try:
            watcher = _static_routes(args)
        except (ValidationError, ValueError) as exc:
            sys.stderr.write(f"gateway: invalid --upstream route: {exc}\n")
            return 2
    else:
        watcher = RoutesWatcher(args.routes)
        try:
            watcher.poll()
        except ConfigurationError as exc:
            sys.stderr.write(f"gateway: cannot start: {exc}\n")
            return 2
        if not args.routes.exists():
            log.warning("routes file %s does not exist yet; no models are routed", args.routes)
    gateway = Gateway(
        watcher,
        namespace=args.namespace,
        mounted=args.model if args.upstream is not None else None,
        upstream_timeout_s=args.upstream_timeout,
        seed=args.seed,
        queue_max=args.queue_max,
        queue_timeout_s=args.queue_timeout,
    )
    try:
        run(_run(gateway, args.host, args.port, args.poll_interval, limits))
    except OSError as exc:
        sys.stderr.write(f"gateway: cannot listen on {args.host}:{args.port}: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
