"""Plain Kubernetes: a Deployment (+ HPA) per revision, a Service per revision and per model.

The model's Service selects the pods of one color: blue-green switches it between colors (a
traffic split is not expressible, see ``config.schema.DEPLOYMENT_WORKLOAD_STRATEGIES``). Each
revision's own Service gives smoke tests and status a URL of exactly that revision. An init
container fetches the artifact from the store and verifies its digest before the engine starts;
engines without contract metrics get the gateway sidecar (:mod:`.sidecar`), which then takes the
Services' traffic and the scrapes;
changes to one revision's pods roll with the environment's ``max_surge`` / ``max_unavailable``.
"""

from __future__ import annotations

from typing import Any

from llm_platform.serving.engines.base import CONTAINER_MODEL_DIR
from llm_platform.targets.base import DeploymentSpec, InvalidDeploymentSpec, RevisionSpec
from llm_platform.targets.kubernetes import names
from llm_platform.targets.kubernetes.fetch import MODULE as FETCH_MODULE
from llm_platform.targets.kubernetes.fetch import model_dir
from llm_platform.targets.kubernetes.image import platform_image
from llm_platform.targets.kubernetes.placement import Placement
from llm_platform.targets.kubernetes.pods import (
    CONTAINER_NAME,
    container_spec,
    metrics_annotations,
    probes,
    resources,
    scheduling,
)
from llm_platform.targets.kubernetes.sidecar import gateway_container, needs_gateway

MODEL_VOLUME = "model"
#: Optional Secret with the artifact store's AWS_* variables for the fetch init container.
STORE_SECRET = "llm-platform-artifact-store"
SERVICE_PORT = 80
HPA_CPU_UTILIZATION = 80


def revision_object_name(model: str, rev: RevisionSpec) -> str:
    """The Deployment / Service / HPA name of one revision."""
    return names.object_name(model, rev.revision)


def serving_revision(spec: DeploymentSpec) -> RevisionSpec:
    """The one revision the model's Service routes to.

    Raises:
        InvalidDeploymentSpec: the weights split traffic (only KServe can).
    """
    serving = [r for r in spec.revisions if r.weight == 100]
    if not serving:
        split = {r.revision: r.weight for r in spec.revisions if r.weight}
        raise InvalidDeploymentSpec(
            f"{spec.env}/{spec.model}: weights {split} split traffic; the deployment workload's "
            "Service selects one color (use kubernetes.workload: kserve for splits)"
        )
    return serving[0]


def service_selector(spec: DeploymentSpec) -> dict[str, str]:
    """Model + color of the serving revision (its revision name when the color is shared)."""
    rev = serving_revision(spec)
    selector = {names.ENVIRONMENT: spec.env, names.MODEL: spec.model}
    if sum(r.color == rev.color for r in spec.revisions) == 1:
        selector[names.COLOR] = rev.color
    else:
        selector[names.REVISION] = rev.revision
    return selector


def _fetch_container(model: str, rev: RevisionSpec) -> dict[str, Any]:
    return {
        "name": "fetch-artifact",
        "image": platform_image(),
        "command": ["python", "-m", FETCH_MODULE],
        "args": [
            f"--model={model}",
            f"--uri={rev.artifact_uri}",
            f"--digest={rev.digest}",
            f"--cache={CONTAINER_MODEL_DIR}",
        ],
        "envFrom": [{"secretRef": {"name": STORE_SECRET, "optional": True}}],
        "volumeMounts": [{"name": MODEL_VOLUME, "mountPath": CONTAINER_MODEL_DIR}],
    }


def deployment(
    spec: DeploymentSpec, rev: RevisionSpec, placement: Placement, files: tuple[str, ...]
) -> dict[str, Any]:
    """The Deployment running revision ``rev``."""
    directory = model_dir(CONTAINER_MODEL_DIR, spec.model, rev.digest)
    engine = container_spec(spec.model, rev, files, model_dir=directory)
    labels = names.revision_labels(spec.env, spec.model, rev, placement.commit)
    sidecar = needs_gateway(rev.engine)
    port_name = "engine" if sidecar else "http"  # "http" is the port clients use
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": engine.image,
        "args": list(engine.args),
        "ports": [{"name": port_name, "containerPort": engine.port, "protocol": "TCP"}],
        "resources": resources(placement),
        "volumeMounts": [
            {"name": MODEL_VOLUME, "mountPath": CONTAINER_MODEL_DIR, "readOnly": True}
        ],
        **probes(engine.readiness_path, engine.port),
    }
    if engine.command:
        container["command"] = list(engine.command)
    containers = [container]
    if sidecar:
        containers.append(gateway_container(placement.namespace, spec.model, rev, engine.port))
    low, _ = placement.replica_bounds()
    body: dict[str, Any] = {
        "selector": {
            "matchLabels": {
                names.ENVIRONMENT: spec.env,
                names.MODEL: spec.model,
                names.REVISION: rev.revision,
            }
        },
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {
                "maxSurge": placement.max_surge,
                "maxUnavailable": placement.max_unavailable,
            },
        },
        "template": {
            "metadata": {
                "labels": labels,
                "annotations": {
                    **names.revision_annotations(rev, placement.commit),
                    **metrics_annotations(rev.engine, engine),
                },
            },
            "spec": {
                "initContainers": [_fetch_container(spec.model, rev)],
                "containers": containers,
                "volumes": [{"name": MODEL_VOLUME, "emptyDir": {}}],
                **scheduling(placement),
            },
        },
    }
    if not placement.autoscaling_enabled:
        body["replicas"] = max(low, rev.replicas)  # the HPA owns replicas when enabled
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": revision_object_name(spec.model, rev),
            "namespace": placement.namespace,
            "labels": labels,
            "annotations": names.revision_annotations(rev, placement.commit),
        },
        "spec": body,
    }


def _service(
    name: str, namespace: str, labels: dict[str, str], selector: dict[str, str], port: int
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": port, "protocol": "TCP"}
            ],
        },
    }


def revision_service(
    spec: DeploymentSpec, rev: RevisionSpec, placement: Placement, port: int
) -> dict[str, Any]:
    """The Service of exactly one revision (its own URL)."""
    labels = names.revision_labels(spec.env, spec.model, rev, placement.commit)
    selector = {names.ENVIRONMENT: spec.env, names.MODEL: spec.model, names.REVISION: rev.revision}
    return _service(
        revision_object_name(spec.model, rev), placement.namespace, labels, selector, port
    )


def model_service(spec: DeploymentSpec, placement: Placement, port: int) -> dict[str, Any]:
    """The model's Service: routes to the serving color; holds the desired spec."""
    svc = _service(
        names.object_name(spec.model),
        placement.namespace,
        names.model_labels(spec.env, spec.model),
        service_selector(spec),
        port,
    )
    svc["metadata"]["annotations"] = {names.DESIRED_SPEC: names.desired_spec_json(spec)}
    return svc


def autoscaler(spec: DeploymentSpec, rev: RevisionSpec, placement: Placement) -> dict[str, Any]:
    """The revision's HorizontalPodAutoscaler (autoscaling bounds, CPU utilisation)."""
    low, high = placement.replica_bounds()
    name = revision_object_name(spec.model, rev)
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": name,
            "namespace": placement.namespace,
            "labels": names.revision_labels(spec.env, spec.model, rev, placement.commit),
        },
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": low,
            "maxReplicas": high,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": HPA_CPU_UTILIZATION,
                        },
                    },
                }
            ],
        },
    }
