"""Container and pod-spec parts shared by both workloads: resources, probes, scheduling."""

from __future__ import annotations

from typing import Any

from llm_platform.serving.engines import ContainerSettings, ContainerSpec, get_engine
from llm_platform.serving.engines.base import CONTAINER_MODEL_DIR
from llm_platform.targets.base import RevisionSpec
from llm_platform.targets.kubernetes.placement import Placement
from llm_platform.targets.kubernetes.prometheus import scrape_annotations
from llm_platform.targets.kubernetes.sidecar import (
    GATEWAY_METRICS_PATH,
    GATEWAY_PORT,
    needs_gateway,
)

GPU_RESOURCE = "nvidia.com/gpu"
#: Engines are mostly waiting on the accelerator; the HPA scales on CPU utilisation of this.
CPU_REQUEST = "1"
CONTAINER_NAME = "kserve-container"  # KServe's name; plain Deployments use it too
READINESS_PERIOD_S = 10
READINESS_FAILURES = 3
#: Large models load slowly: the startup probe allows this long before the pod is restarted.
STARTUP_GRACE_S = 1800
STARTUP_PERIOD_S = 30


def container_spec(
    model: str, rev: RevisionSpec, files: tuple[str, ...], *, model_dir: str | None = None
) -> ContainerSpec:
    """The engine's container for revision ``rev`` (its image, args and readiness path)."""
    settings = ContainerSettings(
        model=model,
        version=rev.version,
        revision=rev.revision,
        digest=rev.digest,
        model_files=files,
        context_size=rev.context_size,
        max_batch_size=rev.max_batch_size,
        model_dir=model_dir or CONTAINER_MODEL_DIR,
    )
    return get_engine(rev.engine).container(settings)


def resources(placement: Placement) -> dict[str, Any]:
    """Requests and limits: memory = memory_gb (request) / x multiplier (limit), GPUs."""
    requests: dict[str, str] = {"cpu": CPU_REQUEST, "memory": placement.memory_request}
    limits: dict[str, str] = {"memory": placement.memory_limit}
    if placement.gpu_limit:
        # Extended resources cannot be overcommitted: request and limit must be equal.
        requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = str(placement.gpu_limit)
    return {"requests": requests, "limits": limits}


def http_probe(path: str, port: int, *, period_s: int, failures: int) -> dict[str, Any]:
    """An HTTP GET probe."""
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period_s,
        "failureThreshold": failures,
        "timeoutSeconds": 5,
    }


def probes(path: str, port: int) -> dict[str, Any]:
    """Readiness on the engine's readiness path, plus a startup probe for slow model loads."""
    return {
        "readinessProbe": http_probe(
            path, port, period_s=READINESS_PERIOD_S, failures=READINESS_FAILURES
        ),
        "startupProbe": http_probe(
            path, port, period_s=STARTUP_PERIOD_S, failures=STARTUP_GRACE_S // STARTUP_PERIOD_S
        ),
    }


def scheduling(placement: Placement) -> dict[str, Any]:
    """Node selector of the environment and tolerations for GPU taints (when GPUs are asked)."""
    out: dict[str, Any] = {}
    if placement.node_selector:
        out["nodeSelector"] = dict(placement.node_selector)
    if placement.gpu_limit:
        out["tolerations"] = [
            {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"},
        ]
    return out


def metrics_annotations(engine: str, spec: ContainerSpec) -> dict[str, str]:
    """Prometheus scrape annotations: the gateway sidecar's metrics when ``engine`` needs one,
    else the engine's own (none when it has none)."""
    if needs_gateway(engine):
        return scrape_annotations(GATEWAY_PORT, GATEWAY_METRICS_PATH)
    if spec.metrics_path is None:
        return {}
    return scrape_annotations(spec.port, spec.metrics_path)
