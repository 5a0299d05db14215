"""kmock's emulated Kubernetes API server as a real HTTP server on 127.0.0.1, in a thread.

Extended with what the runtime relies on and kmock does not emulate: server-side apply
(``PATCH`` with ``application/apply-patch+yaml`` creates a missing object and replaces the
applier's fields, keeping ``status`` and bumping ``metadata.generation`` when ``spec``
changes), and injected faults (the next N matching requests get an HTTP error). Tests set
``status`` through the API like a controller would.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp.web
import kmock
from kmock._internal import enums, parsing, rendering
from kubernetes.client import ApiClient, Configuration

APPLY = "application/apply-patch+yaml"


@dataclass
class Fault:
    """Answer the next ``times`` requests with ``method`` on a path containing ``path`` by
    ``status``."""

    method: str
    path: str
    status: int
    times: int = 1


class ApplyingEmulator(kmock.KubernetesEmulator):  # type: ignore[misc]
    """kmock's emulator plus server-side apply and fault injection."""

    faults: list[Fault]
    seen: list[tuple[str, str, int]]

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        method, path = request.method.value, request.url.path
        for fault in self.faults:
            if fault.times > 0 and fault.method == method and fault.path in path:
                fault.times -= 1
                self.seen.append((method, path, fault.status))
                body = {"kind": "Status", "code": fault.status, "message": "injected fault"}
                return aiohttp.web.json_response(body, status=fault.status)
        self.seen.append((method, path, 200))
        content_type = request.headers.get("Content-Type", "")
        if request.action == enums.action.UPDATE and APPLY in content_type:
            return await self._apply(request)
        return await super()._handle(request)  # type: ignore[no-any-return]

    async def _apply(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        key = (request.resource, request.namespace, request.name)
        async with self._lock:
            objects = self._objects
            if key not in objects:
                objects[key] = _with_generation(request.data, 1)
                event = "ADDED"
            else:
                obj = objects[key]
                status = None if obj.deleted else obj.get("status")
                old_meta = {} if obj.deleted else obj.get("metadata") or {}
                generation = int(old_meta.get("generation") or 0)
                if obj.deleted or obj.get("spec") != request.data.get("spec"):
                    generation += 1
                new = _with_generation(request.data, generation) | (
                    {"status": status} if status else {}
                )
                if obj.deleted:
                    obj.create(new)
                    event = "ADDED"
                else:
                    obj.clear()
                    obj.patch(new)
                    event = "MODIFIED"
            raw = objects[key].raw
            await self._buses[request.resource].put({"type": event, "object": raw})
        return aiohttp.web.json_response(raw)


def _with_generation(data: dict[str, Any], generation: int) -> dict[str, Any]:
    """``data`` with ``metadata.generation`` (the API server bumps it on every spec change, so
    a controller's ``status.observedGeneration`` tells whether the status is current)."""
    return dict(data) | {"metadata": dict(data.get("metadata") or {}) | {"generation": generation}}


_guess = parsing.guess_k8s


def _guess_with_python_watch(k8s: Any, method: Any, query: dict[str, str]) -> Any:
    # The Python client sends watch=True; kmock only knows watch=true.
    if query.get("watch") in ("True", "1"):
        query = dict(query) | {"watch": "true"}
    return _guess(k8s, method, query)


@dataclass
class KubeServer:
    """The running emulator: its URL and a client configured for it."""

    url: str
    emulator: ApplyingEmulator
    loop: asyncio.AbstractEventLoop
    faults: list[Fault] = field(default_factory=list)

    def api(self) -> ApiClient:
        config = Configuration(host=self.url)
        return ApiClient(config)

    def write_kubeconfig(self, path: Path) -> Path:
        """A kubeconfig whose current context is this server (for ``KUBECONFIG``)."""
        context = {"name": "c", "context": {"cluster": "k", "user": "u"}}
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "k", "cluster": {"server": self.url}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [context],
            "current-context": "c",
        }
        path.write_text(json.dumps(doc))
        return path

    def objects(self, plural: str) -> list[dict[str, Any]]:
        """The live objects of a resource plural (read on the server's loop)."""

        async def read() -> list[dict[str, Any]]:
            async with self.emulator._lock:
                return [
                    dict(obj.raw)
                    for (resource, _, _), obj in self.emulator._objects.items()
                    if resource.plural == plural and not obj.deleted
                ]

        return asyncio.run_coroutine_threadsafe(read(), self.loop).result(5)


@contextmanager
def kube_server() -> Iterator[KubeServer]:
    """Start the emulator on a free 127.0.0.1 port in a thread; stop it afterwards."""
    parsing.guess_k8s = _guess_with_python_watch
    ready: dict[str, Any] = {}
    started, stop = threading.Event(), None

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        emulator = ApplyingEmulator()
        emulator.faults, emulator.seen = [], []
        async with emulator, kmock.Server(emulator) as server:
            ready["server"] = KubeServer(
                url=str(server.url).rstrip("/"), emulator=emulator, loop=asyncio.get_running_loop()
            )
            ready["server"].faults = emulator.faults
            started.set()
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("kmock server did not start within 10 s")
    server: KubeServer = ready["server"]
    try:
        yield server
    finally:
        assert stop is not None
        server.loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        parsing.guess_k8s = _guess
