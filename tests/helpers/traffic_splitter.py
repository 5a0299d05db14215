"""A loopback traffic splitter: what Knative's routing does for an InferenceService's URL.

Each :class:`Route` listens on its own 127.0.0.1 port and proxies every request (streamed
both ways, so server-sent events pass through) to one backend picked by weight, like Knative
splitting a service's traffic between the latest and the previous revision by
``canaryTrafficPercent``. A weight change is atomic: a request picks its backend once.
"""

from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import dataclass, field

import aiohttp
import aiohttp.web

from llm_platform.serving.engines.base import LOOPBACK
from llm_platform.targets.local.processes import free_port

#: Per-connection headers a proxy must not forward (RFC 9110 section 7.6.1), plus the ones
#: aiohttp recomputes for the re-encoded body.
HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


@dataclass
class Route:
    """One service URL and the weighted backends behind it."""

    url: str
    backends: list[tuple[str, int]] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    session: aiohttp.ClientSession | None = None

    def set(self, backends: list[tuple[str, int]]) -> None:
        """Replace the backends (``(base URL, weight)``; weight 0 gets no traffic)."""
        self.backends = [(url.rstrip("/"), weight) for url, weight in backends]

    def _pick(self) -> str | None:
        live = [(url, weight) for url, weight in self.backends if weight > 0]
        if not live:
            return None
        return self.rng.choices([u for u, _ in live], weights=[w for _, w in live])[0]

    async def handle(self, request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        backend = self._pick()
        if backend is None or self.session is None:
            return aiohttp.web.Response(status=503, text="no revision is routed")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        try:
            async with self.session.request(
                request.method,
                backend + request.path_qs,
                headers=headers,
                data=await request.read(),
                allow_redirects=False,
            ) as upstream:
                response = aiohttp.web.StreamResponse(
                    status=upstream.status,
                    headers={
                        k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS
                    },
                )
                await response.prepare(request)
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
                return response
        except aiohttp.ClientError as exc:
            return aiohttp.web.Response(status=502, text=f"upstream {backend}: {exc}")


class TrafficSplitter:
    """Routes on one event loop in a daemon thread; :meth:`close` stops every listener."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runners: list[aiohttp.web.AppRunner] = []
        self.routes: list[Route] = []

    def route(self) -> Route:
        """A new route listening on a free 127.0.0.1 port (no backends yet)."""
        port = free_port()
        route = Route(url=f"http://{LOOPBACK}:{port}")

        async def start() -> None:
            route.session = aiohttp.ClientSession(
                auto_decompress=False, timeout=aiohttp.ClientTimeout(total=120)
            )
            app = aiohttp.web.Application(client_max_size=16 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", route.handle)
            runner = aiohttp.web.AppRunner(app, access_log=None)
            await runner.setup()
            await aiohttp.web.TCPSite(runner, LOOPBACK, port).start()
            self.runners.append(runner)

        asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        self.routes.append(route)
        return route

    def close(self) -> None:
        async def stop() -> None:
            for runner in self.runners:
                await runner.cleanup()
            for route in self.routes:
                if route.session is not None:
                    await route.session.close()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
