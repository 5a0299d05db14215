"""Plays kubelet, KServe/Knative and Prometheus service discovery for kmock's API server.

For every InferenceService in any namespace, and every change of its spec (a new
``metadata.generation``), :class:`FakeKServe` does what a cluster would:

- per predictor revision (the ``llm-platform.io/revision`` label of the predictor) a "pod":
  ``storageUri`` fetched and verified against the digest annotation like the storage
  initializer, the ServingRuntime's command with the predictor's args (``/mnt/models`` -> the
  verified copy, ``0.0.0.0`` -> 127.0.0.1, ports -> free ports) and the gateway sidecar from
  ``spec.predictor.containers`` (its upstream rewritten to the engine's real port);
- KServe's canary semantics: with ``canaryTrafficPercent`` the previously rolled-out revision
  keeps running and the service URL (a :class:`~tests.traffic_splitter.Route`) splits traffic
  by that percent; without it only the latest revision runs;
- ``status`` as KServe reports it (``observedGeneration``, ``Ready``, ``url``, the predictor's
  ``traffic`` with ``latest``/``prev`` tags and their own URLs), patched through the API;
- Prometheus file_sd targets for each pod's scrape port (the ``prometheus.kserve.io/*``
  annotations), in place of the in-cluster Prometheus's pod discovery.

Every process it starts runs on 127.0.0.1 and is stopped by PID in :meth:`FakeKServe.stop`.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from llm_platform.kubernetes import names
from llm_platform.kubernetes.kserve import ISVC_API_VERSION, ISVC_PLURAL
from llm_platform.kubernetes.sidecar import SIDECAR_NAME
from llm_platform.runtime.artifacts import ArtifactCache
from llm_platform.runtime.processes import stop_process
from llm_platform.runtime.prometheus import (
    PrometheusPaths,
    TargetGroup,
    start_prometheus,
    write_targets,
)
from llm_platform.serving.engines.base import CONTAINER_MODEL_DIR, LOOPBACK
from tests.kmock_fixtures import KubeServer
from tests.registry_fixtures import free_port
from tests.traffic_splitter import Route, TrafficSplitter

POD_READY_TIMEOUT_S = 60.0
SCRAPE_PORT = "prometheus.kserve.io/port"


class PodFailed(Exception):
    """A revision's processes exited or never became ready (the message says which)."""


@dataclass
class Pod:
    """One predictor revision: its processes, serving URL and scrape target."""

    revision: str
    procs: list[subprocess.Popen[bytes]]
    url: str
    target: TargetGroup | None

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@dataclass
class Service:
    """What KServe keeps per InferenceService: its pods, latest and previous revision."""

    route: Route
    pods: dict[str, Pod] = field(default_factory=dict)
    latest: str | None = None
    previous: str | None = None
    observed: int = 0


def _python(command: list[str]) -> list[str]:
    """The container's ``python`` is this interpreter (the image is this checkout)."""
    return [sys.executable if c == "python" else c for c in command]


def _listen(args: list[str], port: int) -> list[str]:
    """``args`` bound to 127.0.0.1 and ``port`` (``--port N`` and ``--port=N`` forms)."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i and args[i - 1] == "--port":
            out.append(str(port))
        elif arg.startswith("--port="):
            out.append(f"--port={port}")
        else:
            out.append(arg.replace("0.0.0.0", LOOPBACK))
    return out


class FakeKServe:
    """Reconciles every InferenceService of ``server`` until :meth:`stop`.

    Args:
        server: kmock's API server.
        work: Where pods keep their artifact copies and logs.
        targets_file: The file_sd file a real Prometheus reads (``job`` of pod scrape targets).
    """

    def __init__(self, server: KubeServer, work: Path, targets_file: Path) -> None:
        self.server, self.work, self.targets_file = server, work, targets_file
        self.splitter = TrafficSplitter()
        self.services: dict[str, Service] = {}
        #: The ``canaryTrafficPercent`` values routed, in order, per ``namespace/name`` (a
        #: repeat is folded: like a controller, it may see two quick applies as one).
        self.percents: dict[str, list[int | None]] = {}
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> FakeKServe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop reconciling, every process (by PID) and the traffic splitter."""
        self._stop.set()
        self._thread.join(POD_READY_TIMEOUT_S + 10)
        for svc in self.services.values():
            for pod in svc.pods.values():
                pod.stop()
        self.splitter.close()

    def settled(self, namespace: str, name: str, *, timeout_s: float = 30.0) -> dict[str, Any]:
        """The InferenceService once its status reports its current generation."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.error is not None:
                raise AssertionError(f"fake KServe failed: {self.error!r}") from self.error
            isvc = self.get(namespace, name)
            meta, status = isvc["metadata"], isvc.get("status") or {}
            if status.get("observedGeneration") == meta.get("generation"):
                return isvc
            if time.monotonic() > deadline:
                raise AssertionError(f"{namespace}/{name} not reconciled: {status}")
            time.sleep(0.1)

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        for isvc in self.server.objects(ISVC_PLURAL):
            meta = isvc["metadata"]
            if (meta["namespace"], meta["name"]) == (namespace, name):
                return isvc
        raise AssertionError(f"no InferenceService {namespace}/{name}")

    # -- the controller loop ------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                live = {}
                for isvc in self.server.objects(ISVC_PLURAL):
                    key = f"{isvc['metadata']['namespace']}/{isvc['metadata']['name']}"
                    live[key] = isvc
                    self._reconcile(key, isvc)
                for key, svc in self.services.items():
                    if key not in live:  # deleted: its pods go, its URL routes nowhere
                        for pod in svc.pods.values():
                            pod.stop()
                        svc.pods.clear()
                        svc.route.set([])
                        svc.latest = svc.previous = None
                        svc.observed = 0
                self._write_targets()
            except BaseException as exc:  # surfaced by settled() and the tests
                self.error = exc
                return
            self._stop.wait(0.1)

    def _reconcile(self, key: str, isvc: dict[str, Any]) -> None:
        meta = isvc["metadata"]
        generation = int(meta.get("generation") or 1)
        svc = self.services.get(key)
        if svc is None:
            svc = self.services[key] = Service(route=self.splitter.route())
        if generation == svc.observed:
            return
        predictor = isvc["spec"]["predictor"]
        revision = predictor["labels"][names.REVISION]
        percent = predictor.get("canaryTrafficPercent")
        routed = self.percents.setdefault(key, [])
        if not routed or routed[-1] != percent:
            routed.append(percent)
        if revision != svc.latest:
            svc.previous, svc.latest = svc.latest, revision
        if percent is None:
            svc.previous = None  # everything rolls to the latest revision
        try:
            if revision not in svc.pods:
                svc.pods[revision] = self._start_pod(isvc)
        except PodFailed as exc:
            self._patch_status(meta, _not_ready(generation, str(exc)))
            svc.observed = generation
            return
        keep = {revision} | ({svc.previous} if svc.previous in svc.pods else set())
        for name in [n for n in svc.pods if n not in keep]:
            svc.pods.pop(name).stop()
        if svc.previous not in svc.pods:
            svc.previous = None
        latest_share = 100 if percent is None or svc.previous is None else int(percent)
        backends = [(svc.pods[revision].url, latest_share)]
        if svc.previous is not None:
            backends.append((svc.pods[svc.previous].url, 100 - latest_share))
        svc.route.set(backends)
        self._write_targets()
        self._patch_status(meta, self._ready(meta["name"], svc, generation, latest_share))
        svc.observed = generation

    def _ready(self, name: str, svc: Service, generation: int, share: int) -> dict[str, Any]:
        assert svc.latest is not None
        knative = f"{name}-predictor-{svc.latest}"
        traffic = [
            {
                "tag": "latest",
                "revisionName": knative,
                "latestRevision": True,
                "percent": share,
                "url": svc.pods[svc.latest].url,
            }
        ]
        if svc.previous is not None:
            traffic.append(
                {
                    "tag": "prev",
                    "revisionName": f"{name}-predictor-{svc.previous}",
                    "latestRevision": False,
                    "percent": 100 - share,
                    "url": svc.pods[svc.previous].url,
                }
            )
        return {
            "observedGeneration": generation,
            "url": svc.route.url,
            "conditions": [
                {"type": "PredictorReady", "status": "True"},
                {"type": "Ready", "status": "True"},
            ],
            "components": {
                "predictor": {
                    "latestCreatedRevision": knative,
                    "latestReadyRevision": knative,
                    "traffic": traffic,
                }
            },
        }

    def _patch_status(self, meta: dict[str, Any], status: dict[str, Any]) -> None:
        path = (
            f"/apis/{ISVC_API_VERSION}/namespaces/{meta['namespace']}/{ISVC_PLURAL}/"
            f"{meta['name']}/status"
        )
        with self.server.api() as api:
            api.call_api(
                path,
                "PATCH",
                header_params={"Content-Type": "application/merge-patch+json"},
                body={"status": status},
                auth_settings=["BearerToken"],
            )

    def _write_targets(self) -> None:
        groups = [
            pod.target
            for svc in self.services.values()
            for pod in svc.pods.values()
            if pod.target is not None
        ]
        write_targets(self.targets_file, groups)

    # -- kubelet ------------------------------------------------------------------------------

    def _serving_runtime(self, namespace: str, name: str) -> dict[str, Any]:
        for rt in self.server.objects("servingruntimes"):
            if (rt["metadata"]["namespace"], rt["metadata"]["name"]) == (namespace, name):
                return rt
        raise PodFailed(f"ServingRuntime {namespace}/{name} does not exist")

    def _start_pod(self, isvc: dict[str, Any]) -> Pod:
        namespace, name = isvc["metadata"]["namespace"], isvc["metadata"]["name"]
        predictor = isvc["spec"]["predictor"]
        model, labels = predictor["model"], predictor["labels"]
        revision = labels[names.REVISION]
        digest = predictor["annotations"][names.DIGEST]
        try:
            local = ArtifactCache(self.work / "pods" / namespace).resolve(
                name, model["storageUri"], digest
            )
        except Exception as exc:  # the storage initializer fails the pod
            raise PodFailed(f"storage initializer: {exc}") from exc
        engine = self._serving_runtime(namespace, model["runtime"])["spec"]["containers"][0]
        engine_port = free_port()
        argv = _python(engine.get("command") or []) + [
            a.replace(CONTAINER_MODEL_DIR, str(local))
            for a in [*engine.get("args", []), *model.get("args", [])]
        ]
        logs = self.work / "logs" / namespace
        logs.mkdir(parents=True, exist_ok=True)
        procs = [_spawn(_listen(argv, engine_port), logs / f"{revision}-engine.log")]
        checks = [(procs[0], engine_port, model["readinessProbe"]["httpGet"]["path"])]
        url, scrape = f"http://{LOOPBACK}:{engine_port}", engine_port
        sidecar = next(
            (c for c in predictor.get("containers", []) if c["name"] == SIDECAR_NAME), None
        )
        if sidecar is not None:
            gw_port = free_port()
            args = [
                f"--upstream=http://{LOOPBACK}:{engine_port}" if a.startswith("--upstream=") else a
                for a in sidecar["args"]
            ]
            procs.append(
                _spawn(
                    _python(sidecar["command"]) + _listen(args, gw_port),
                    logs / f"{revision}-sidecar.log",
                )
            )
            checks.append((procs[1], gw_port, sidecar["readinessProbe"]["httpGet"]["path"]))
            url, scrape = f"http://{LOOPBACK}:{gw_port}", gw_port
        pod = Pod(revision=revision, procs=procs, url=url, target=None)
        try:
            for proc, port, path in checks:
                _wait_ready(proc, f"http://{LOOPBACK}:{port}{path}", logs)
        except PodFailed:
            pod.stop()
            raise
        if SCRAPE_PORT in predictor.get("annotations", {}):
            pod.target = TargetGroup(
                targets=[f"{LOOPBACK}:{scrape}"],
                labels={
                    "namespace": namespace,
                    "model": labels[names.MODEL],
                    "revision": revision,
                    "version": labels[names.VERSION],
                    "color": labels[names.COLOR],
                },
            )
        return pod


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)


def _wait_ready(proc: subprocess.Popen[bytes], url: str, logs: Path) -> None:
    deadline = time.monotonic() + POD_READY_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise PodFailed(f"{proc.args!r} exited with {proc.returncode} (logs in {logs})")
        try:
            if httpx.get(url, timeout=1, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise PodFailed(f"{url} not ready after {POD_READY_TIMEOUT_S:g}s (logs in {logs})")
        time.sleep(0.1)


def _not_ready(generation: int, message: str) -> dict[str, Any]:
    return {
        "observedGeneration": generation,
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "RevisionFailed", "message": message}
        ],
    }


@contextmanager
def cluster_prometheus(home: Path) -> Iterator[tuple[str, Path]]:
    """A real Prometheus on 127.0.0.1 scraping the file_sd targets a :class:`FakeKServe`
    writes (every 1 s); yields its URL and that targets file, stops it by PID afterwards."""
    port = free_port()
    pid, argv = start_prometheus(home, port)
    try:
        yield f"http://{LOOPBACK}:{port}", PrometheusPaths(home).model_targets
    finally:
        stop_process(pid, argv)
