"""The platform's gateway as a sidecar, for engines that export no contract series themselves.

Engines on the default metric profile (builtin, llama.cpp) are measured by the gateway in front
of them; on a cluster that gateway runs in the engine's pod (``--upstream`` mode: one route to
the engine on localhost, labelled with the revision, paths unchanged). The pod's traffic enters
through the sidecar's port and Prometheus scrapes its ``/metrics``. Engines with their own
profile (vLLM) serve and are scraped directly.
"""

from __future__ import annotations

from typing import Any

from llm_platform.serving.engines import get_engine
from llm_platform.serving.engines.base import LOOPBACK
from llm_platform.slo.profiles import DEFAULT_PROFILE
from llm_platform.targets.base import DeploymentSpec, InvalidDeploymentSpec, RevisionSpec
from llm_platform.targets.kubernetes.image import platform_image

SIDECAR_NAME = "llm-gateway"
GATEWAY_MODULE = "llm_platform.serving.gateway"
#: Not a Knative/KServe reserved port (8012, 8013, 8022, 9090, 9091) nor the engines' 8080.
GATEWAY_PORT = 8000
GATEWAY_HEALTH_PATH = "/-/health"
GATEWAY_METRICS_PATH = "/metrics"
#: The gateway proxies on one event loop: a fraction of a core and little memory.
GATEWAY_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"memory": "512Mi"},
}


def needs_gateway(engine: str) -> bool:
    """True when ``engine`` exports no contract series itself (its profile is the default)."""
    return get_engine(engine).metric_profile == DEFAULT_PROFILE.name


def check_faults(spec: DeploymentSpec) -> None:
    """Refuse injected faults where no sidecar would inject them (an engine with its own metrics).

    Raises:
        InvalidDeploymentSpec: naming the revision and its engine.
    """
    for rev in spec.revisions:
        if rev.faults.active and not needs_gateway(rev.engine):
            raise InvalidDeploymentSpec(
                f"{spec.env}/{spec.model}: revision {rev.revision} asks for injected faults, but "
                f"engine {rev.engine} runs without the gateway sidecar that injects them"
            )


def serving_port(engine: str, engine_port: int) -> int:
    """The pod port clients and Prometheus use: the sidecar's when there is one."""
    return GATEWAY_PORT if needs_gateway(engine) else engine_port


def gateway_container(
    namespace: str, model: str, rev: RevisionSpec, engine_port: int
) -> dict[str, Any]:
    """The sidecar routing every request to the engine on ``engine_port``.

    Its contract metrics carry the pod's Kubernetes ``namespace`` (the label the SLO checks and
    the canary analysis select on: the environment's ``namespace``, which need not be its name)
    and the revision; the revision's injected faults (drills) are passed on.
    """
    probe = {
        "httpGet": {"path": GATEWAY_HEALTH_PATH, "port": GATEWAY_PORT},
        "periodSeconds": 10,
        "timeoutSeconds": 5,
    }
    return {
        "name": SIDECAR_NAME,
        "image": platform_image(),
        "command": ["python", "-m", GATEWAY_MODULE],
        "args": [
            f"--upstream=http://{LOOPBACK}:{engine_port}",
            f"--model={model}",
            f"--version={rev.version}",
            f"--revision={rev.revision}",
            f"--color={rev.color}",
            f"--namespace={namespace}",
            "--host=0.0.0.0",
            f"--port={GATEWAY_PORT}",
            *([f"--faults={rev.faults.model_dump_json()}"] if rev.faults.active else []),
            f"--engine={rev.engine}",  # the request contract: the engine's limits, extensions
            *([f"--context-size={rev.context_size}"] if rev.context_size else []),
            *([f"--extensions={','.join(rev.extensions)}"] if rev.extensions else []),
        ],
        "ports": [{"name": "http", "containerPort": GATEWAY_PORT, "protocol": "TCP"}],
        "resources": GATEWAY_RESOURCES,
        "readinessProbe": probe,
    }
