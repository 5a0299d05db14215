"""kmock's emulated Kubernetes API server as a real HTTP server on 127.0.0.1, in a thread.

The official ``kubernetes`` client talks to it over HTTP exactly as to a cluster (a kubeconfig
file points at it), so the code under test is the production code path. The emulator keeps
objects in memory; it has no controllers and no validation, so tests create nodes/pods/services
with the status they need. Only list/create are used here (its watch pitfall does not apply).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import kmock
import pytest
import yaml
from kubernetes import client

from llm_platform.targets.kubernetes.api import api_client

START_TIMEOUT_S = 10
#: The core kinds a real API server always serves; the emulator knows a kind only once declared
#: (or once an object of it exists), and answers 404 to listing an unknown one.
CORE_KINDS = {
    "v1/nodes": {"kind": "Node", "namespaced": False},
    "v1/pods": {"kind": "Pod", "namespaced": True},
    "v1/services": {"kind": "Service", "namespaced": True},
}


class EmulatedCluster:
    """A running emulator; :meth:`stop` ends its event loop and thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self.url = ""
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="kmock", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise RuntimeError(f"kmock did not start within {START_TIMEOUT_S}s")
        if self._error is not None:
            raise RuntimeError(f"kmock failed to start: {self._error}") from self._error

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        try:
            async with kmock.KubernetesEmulator() as handler, kmock.Server(handler) as server:
                for key, info in CORE_KINDS.items():
                    handler.resources[key] = info
                self.url = str(server.url).rstrip("/")
                self._ready.set()
                await self._stop.wait()
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def write_kubeconfig(self, path: Path) -> Path:
        """A kubeconfig whose current context is this emulator (what a user's kubectl reads)."""
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kmock", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "not-a-secret"}}],
            "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "tester"}}],
            "current-context": "kmock",
        }
        path.write_text(yaml.safe_dump(doc))
        return path

    def core(self, kubeconfig: Path) -> client.CoreV1Api:
        """A CoreV1Api through ``kubeconfig`` (to seed objects over HTTP)."""
        return client.CoreV1Api(api_client(str(kubeconfig)))


@contextmanager
def running_cluster() -> Iterator[EmulatedCluster]:
    """A fresh emulated API server, stopped on exit."""
    emulated = EmulatedCluster()
    try:
        yield emulated
    finally:
        emulated.stop()


def node(
    name: str,
    *,
    memory: str = "64Gi",
    gpus: int = 1,
    cpu: str = "16",
    labels: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
    ready: bool = True,
) -> dict[str, Any]:
    """A Node with allocatable resources, labels, taints and a Ready condition."""
    allocatable = {"cpu": cpu, "memory": memory, "pods": "110"}
    if gpus:
        allocatable["nvidia.com/gpu"] = str(gpus)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"taints": taints or []},
        "status": {
            "allocatable": allocatable,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def pod(
    name: str,
    *,
    node_name: str,
    memory: str,
    gpus: int = 0,
    namespace: str = "default",
    phase: str = "Running",
) -> dict[str, Any]:
    """A Pod bound to ``node_name`` requesting ``memory`` and ``gpus``."""
    requests = {"memory": memory}
    if gpus:
        requests["nvidia.com/gpu"] = str(gpus)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "nodeName": node_name,
            "containers": [{"name": "main", "image": "x", "resources": {"requests": requests}}],
        },
        "status": {"phase": phase},
    }


@pytest.fixture
def cluster() -> Iterator[EmulatedCluster]:
    """An emulated API server for one test (registered for every test by ``conftest.py``)."""
    with running_cluster() as emulated:
        yield emulated


@pytest.fixture
def kubeconfig(cluster: EmulatedCluster, tmp_path: Path) -> Path:
    """A kubeconfig file pointing at ``cluster``."""
    return cluster.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def core(cluster: EmulatedCluster, kubeconfig: Path) -> client.CoreV1Api:
    """The official client's core API on ``cluster``."""
    return cluster.core(kubeconfig)
