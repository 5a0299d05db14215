"""Plays kubelet, KServe/Knative and Prometheus service discovery for kmock's API server.

For every InferenceService in any namespace, and every change of its spec (a new
``metadata.generation``), :class:`FakeKServe` does what a cluster would:

- per predictor revision (the ``llm-platform.io/revision`` label of the predictor) a "pod"
  (:func:`tests.helpers.fake_pods.start_pod`: the verified artifact, the engine and the gateway
  sidecar as processes on 127.0.0.1);
- KServe's canary semantics: with ``canaryTrafficPercent`` the previously rolled-out revision
  keeps running and the service URL (a :class:`~tests.helpers.traffic_splitter.Route`) splits
  traffic by that percent; without it only the latest revision runs;
- ``status`` as KServe reports it (``observedGeneration``, ``Ready``, ``url``, the predictor's
  ``traffic`` with ``latest``/``prev`` tags and their own URLs), patched through the API;
- Prometheus file_sd targets for each pod's scrape port (the ``prometheus.kserve.io/*``
  annotations), in place of the in-cluster Prometheus's pod discovery.

Every process it starts runs on 127.0.0.1 and is stopped by PID in :meth:`FakeKServe.stop`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_platform.serving.engines.base import LOOPBACK
from llm_platform.targets.kubernetes import names
from llm_platform.targets.kubernetes.apply import PLURALS
from llm_platform.targets.kubernetes.kserve import ISVC_API_VERSION, ISVC_PLURAL
from llm_platform.targets.local.processes import free_port, stop_process
from llm_platform.targets.local.prometheus import (
    PrometheusPaths,
    start_prometheus,
    write_targets,
)
from tests.helpers.fake_pods import POD_READY_TIMEOUT_S, Pod, PodFailed, start_pod
from tests.helpers.kmock_fixtures import KubeServer
from tests.helpers.traffic_splitter import Route, TrafficSplitter


@dataclass
class Service:
    """What KServe keeps per InferenceService: its pods, latest and previous revision."""

    route: Route
    pods: dict[str, Pod] = field(default_factory=dict)
    latest: str | None = None
    previous: str | None = None
    observed: int = 0


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
                svc.pods[revision] = start_pod(
                    isvc, self._engine(isvc), self._storage(isvc), self.work
                )
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

    def _engine(self, isvc: dict[str, Any]) -> dict[str, Any]:
        """The engine container of the ServingRuntime the predictor names."""
        namespace, name = (
            isvc["metadata"]["namespace"],
            isvc["spec"]["predictor"]["model"]["runtime"],
        )
        for rt in self.server.objects(PLURALS["ServingRuntime"]):
            if (rt["metadata"]["namespace"], rt["metadata"]["name"]) == (namespace, name):
                return dict(rt["spec"]["containers"][0])
        raise PodFailed(f"ServingRuntime {namespace}/{name} does not exist")

    def _storage(self, isvc: dict[str, Any]) -> dict[str, Any]:
        """KServe's choice of storage initializer: the ClusterStorageContainer the predictor
        names, provided one of its URI formats matches ``storageUri``."""
        predictor = isvc["spec"]["predictor"]
        name, uri = predictor.get("storageContainerName"), predictor["model"]["storageUri"]
        for csc in self.server.objects(PLURALS["ClusterStorageContainer"]):
            if csc["metadata"]["name"] != name:
                continue
            formats = csc["spec"]["supportedUriFormats"]
            if not any(re.match(f["regex"], uri) for f in formats if "regex" in f):
                raise PodFailed(f"ClusterStorageContainer {name} does not support {uri}")
            return dict(csc["spec"]["container"])
        raise PodFailed(f"ClusterStorageContainer {name} does not exist")


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
