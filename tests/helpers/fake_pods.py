"""The kubelet part of :mod:`tests.helpers.fake_kserve`: one predictor revision as real processes.

The storage initializer (the ClusterStorageContainer's own command on ``storageUri`` and an
empty model directory, as KServe's injector runs it), the
ServingRuntime's command with the predictor's args (``/mnt/models`` -> the verified copy,
``0.0.0.0`` -> 127.0.0.1, ports -> free ports) and the gateway sidecar from
``spec.predictor.containers`` (its upstream rewritten to the engine's real port), each waited
for on its readiness probe's path. :meth:`Pod.stop` stops them by PID.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from llm_platform.serving.engines.base import CONTAINER_MODEL_DIR, LOOPBACK
from llm_platform.targets.kubernetes import names
from llm_platform.targets.kubernetes.sidecar import SIDECAR_NAME
from llm_platform.targets.local.processes import free_port
from llm_platform.targets.local.prometheus import TargetGroup

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


def _initialize_storage(container: dict[str, Any], uri: str, dest: Path) -> None:
    """Run the storage initializer as KServe's injector does (``[uri, /mnt/models]``) into an
    empty ``dest``; a non-zero exit fails the pod with its message."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    argv = [*_python(container["command"]), *container.get("args", []), uri, str(dest)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise PodFailed(f"storage initializer exited {done.returncode}: {done.stderr.strip()}")


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


def start_pod(
    isvc: dict[str, Any], engine: dict[str, Any], storage: dict[str, Any], work: Path
) -> Pod:
    """The predictor revision of ``isvc`` running: its artifact placed by ``storage`` (the
    storage initializer container), its engine (``engine``, the ServingRuntime's container,
    with the predictor's args) and its gateway sidecar, ready, on 127.0.0.1.

    Raises:
        PodFailed: the artifact does not verify, or a process exits or is never ready.
    """
    namespace, name = isvc["metadata"]["namespace"], isvc["metadata"]["name"]
    predictor = isvc["spec"]["predictor"]
    model, labels = predictor["model"], predictor["labels"]
    revision = labels[names.REVISION]
    digest = predictor["annotations"][names.DIGEST]
    local = work / "pods" / namespace / name / f"{revision}-{digest[:12]}"
    _initialize_storage(storage, model["storageUri"], local)
    engine_port = free_port()
    argv = _python(engine.get("command") or []) + [
        a.replace(CONTAINER_MODEL_DIR, str(local))
        for a in [*engine.get("args", []), *model.get("args", [])]
    ]
    logs = work / "logs" / namespace
    logs.mkdir(parents=True, exist_ok=True)
    procs = [_spawn(_listen(argv, engine_port), logs / f"{revision}-engine.log")]
    checks = [(procs[0], engine_port, model["readinessProbe"]["httpGet"]["path"])]
    url, scrape = f"http://{LOOPBACK}:{engine_port}", engine_port
    sidecar = next((c for c in predictor.get("containers", []) if c["name"] == SIDECAR_NAME), None)
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
