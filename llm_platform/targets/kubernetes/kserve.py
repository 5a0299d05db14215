"""KServe: a ``ServingRuntime`` per engine and one ``InferenceService`` per model.

vLLM runs through KServe's Hugging Face server with its vLLM backend; llama.cpp and the demo
LM run through ServingRuntimes the platform ships (the engine's own image). The
InferenceService's predictor is the newest revision; KServe keeps the previously rolled-out one
and ``canaryTrafficPercent`` splits traffic between them, so one object holds at most two
revisions. Model-specific arguments live on the InferenceService, the runtime holds the image.
Engines without contract metrics get the gateway sidecar (:mod:`.sidecar`) as an extra predictor
container labelled with the predictor's revision: Knative routes to the one container declaring
a port, so the runtime's engine container declares none and traffic enters through the sidecar.
Every predictor names the platform's ``ClusterStorageContainer`` (:mod:`.storage_initializer`),
which fetches ``storageUri`` and verifies its digest before the engine starts.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from llm_platform.serving.engines import get_engine
from llm_platform.serving.engines.base import CONTAINER_MODEL_DIR
from llm_platform.targets.base import DeploymentSpec, InvalidDeploymentSpec, RevisionSpec
from llm_platform.targets.kubernetes import names
from llm_platform.targets.kubernetes.apply import PLURALS
from llm_platform.targets.kubernetes.image import platform_image
from llm_platform.targets.kubernetes.placement import Placement
from llm_platform.targets.kubernetes.pods import (
    CONTAINER_NAME,
    container_spec,
    probes,
    resources,
    scheduling,
)
from llm_platform.targets.kubernetes.sidecar import (
    GATEWAY_METRICS_PATH,
    GATEWAY_PORT,
    gateway_container,
    needs_gateway,
)
from llm_platform.targets.kubernetes.storage_initializer import (
    INIT_CONTAINER,
    STORAGE_CONTAINER,
    parse_artifact_uri,
    uri_pattern,
)
from llm_platform.targets.kubernetes.storage_initializer import MODULE as STORAGE_INITIALIZER_MODULE
from llm_platform.targets.kubernetes.workloads import STORE_SECRET

KSERVE_API = "serving.kserve.io"
ISVC_API_VERSION = f"{KSERVE_API}/v1beta1"
RUNTIME_API_VERSION = f"{KSERVE_API}/v1alpha1"
ISVC_PLURAL = PLURALS["InferenceService"]
HUGGINGFACE_IMAGE = "kserve/huggingfaceserver:v0.15.2-gpu"
#: KServe's model-server readiness (Hugging Face runtime): 200 once the model is loaded.
HUGGINGFACE_READY_PATH = "/v2/health/ready"
#: The Hugging Face server answers OpenAI requests under this prefix.
HUGGINGFACE_OPENAI_PREFIX = "/openai"
#: Tag routing gives the previous revision its own URL (``prev``), for smoke tests and status.
TAG_ROUTING = "serving.kserve.io/enable-tag-routing"


class KServeRuntime(BaseModel):
    """The ServingRuntime one engine runs on."""

    model_config = ConfigDict(frozen=True)

    engine: str
    name: str
    model_format: str
    image: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    port: int
    readiness_path: str
    metrics_path: str | None
    openai_prefix: str = ""


def kserve_runtime(engine: str) -> KServeRuntime:
    """The runtime of ``engine`` (the engine's container, or KServe's HF server for vLLM)."""
    if engine == "vllm":
        return KServeRuntime(
            engine=engine,
            name="llm-platform-vllm",
            model_format="huggingface",
            image=HUGGINGFACE_IMAGE,
            args=(
                "--model_name={{.Name}}",
                f"--model_dir={CONTAINER_MODEL_DIR}",
                "--backend=vllm",
                "--http_port=8080",
            ),
            port=8080,
            readiness_path=HUGGINGFACE_READY_PATH,
            metrics_path="/metrics",
            openai_prefix=HUGGINGFACE_OPENAI_PREFIX,
        )
    eng = get_engine(engine)
    # Only image, command and port matter here; the real files come with each revision.
    probe = container_spec(
        "m",
        RevisionSpec(
            revision="r",
            version="0.0.0",
            digest="0" * 64,
            artifact_uri="-",
            color="blue",
            weight=100,
            engine=engine,
        ),
        ("model.gguf", "model.json"),
    )
    return KServeRuntime(
        engine=engine,
        name=f"llm-platform-{eng.name}",
        model_format=f"llm-platform-{eng.name}",
        image=probe.image,
        command=probe.command,
        port=probe.port,
        readiness_path=probe.readiness_path,
        metrics_path=probe.metrics_path,
    )


def predictor_args(model: str, rev: RevisionSpec, files: tuple[str, ...]) -> list[str]:
    """The revision's own arguments (model file, alias, context, batch) on the predictor."""
    if rev.engine == "vllm":
        args = []
        if rev.context_size is not None:
            args.append(f"--max-model-len={rev.context_size}")
        if rev.max_batch_size is not None:
            args.append(f"--max-num-seqs={rev.max_batch_size}")
        return args
    return list(container_spec(model, rev, files).args)


def serving_runtime(engine: str, namespace: str) -> dict[str, Any]:
    """The ``ServingRuntime`` manifest of ``engine`` in ``namespace``."""
    rt = kserve_runtime(engine)
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": rt.image,
        **probes(rt.readiness_path, rt.port),
    }
    if not needs_gateway(engine):  # else the sidecar declares the pod's one serving port
        container["ports"] = [{"containerPort": rt.port, "protocol": "TCP"}]
    if rt.command:
        container["command"] = list(rt.command)
    if rt.args:
        container["args"] = list(rt.args)
    spec: dict[str, Any] = {
        "supportedModelFormats": [{"name": rt.model_format, "autoSelect": True}],
        "protocolVersions": ["v1"],
        "containers": [container],
    }
    if _scrape_target(rt):
        spec["annotations"] = metrics_annotations_for(rt)
    return {
        "apiVersion": RUNTIME_API_VERSION,
        "kind": "ServingRuntime",
        "metadata": {
            "name": rt.name,
            "namespace": namespace,
            "labels": {names.MANAGED_BY: names.MANAGER, names.ENGINE: engine},
        },
        "spec": spec,
    }


def artifact_stores(spec: DeploymentSpec) -> list[str]:
    """The store roots of the spec's artifacts, for the storage container's URI formats.

    Raises:
        InvalidDeploymentSpec: an artifact URI outside the registry's content-addressed layout,
            or naming another digest than its revision (its files could not be verified).
    """
    roots: set[str] = set()
    for rev in spec.revisions:
        loc = parse_artifact_uri(rev.artifact_uri)
        if loc is None or loc.digest != rev.digest:
            raise InvalidDeploymentSpec(
                f"{spec.env}/{spec.model}: revision {rev.revision}: {rev.artifact_uri} is not the "
                f"registry's URI of digest {rev.digest} "
                "(<store>/<name>/<version>/<digest>/files/); KServe could not verify it"
            )
        roots.add(loc.root)
    return sorted(roots)


def storage_container(stores: list[str]) -> dict[str, Any]:
    """The ``ClusterStorageContainer`` that fetches and verifies artifacts of ``stores``.

    Its URI formats match only content-addressed artifact URIs under those store roots, so
    other URIs (other teams', other prefixes of the same bucket) keep KServe's own initializer.
    """
    return {
        "apiVersion": RUNTIME_API_VERSION,
        "kind": "ClusterStorageContainer",
        "metadata": {"name": STORAGE_CONTAINER, "labels": {names.MANAGED_BY: names.MANAGER}},
        "spec": {
            "container": {
                "name": INIT_CONTAINER,
                "image": platform_image(),
                "command": ["python", "-m", STORAGE_INITIALIZER_MODULE],
                "envFrom": [{"secretRef": {"name": STORE_SECRET, "optional": True}}],
            },
            "supportedUriFormats": [{"regex": uri_pattern(root)} for root in stores],
            "workloadType": "initContainer",
        },
    }


def inference_service(
    spec: DeploymentSpec,
    placement: Placement,
    files: dict[str, tuple[str, ...]],
    *,
    latest: RevisionSpec,
) -> dict[str, Any]:
    """The model's ``InferenceService`` with ``latest`` as predictor.

    Args:
        spec: The desired revisions (at most two: ``latest`` and the previous one).
        placement: Namespace, resources, scheduling, replica bounds.
        files: Each revision's artifact file paths (relative to its root).
        latest: The predictor revision; with two revisions it gets ``canaryTrafficPercent``.
    """
    rt = kserve_runtime(latest.engine)
    low, high = placement.replica_bounds()
    model: dict[str, Any] = {
        "modelFormat": {"name": rt.model_format},
        "runtime": rt.name,
        "storageUri": latest.artifact_uri,
        "args": predictor_args(spec.model, latest, files[latest.revision]),
        "resources": resources(placement),
        **probes(rt.readiness_path, rt.port),
    }
    predictor: dict[str, Any] = {
        "minReplicas": low,
        "maxReplicas": high,
        "model": model,
        "storageContainerName": STORAGE_CONTAINER,
        **scheduling(placement),
        "labels": names.revision_labels(spec.env, spec.model, latest, placement.commit),
        "annotations": {
            **names.revision_annotations(latest, placement.commit),
            **_metrics(rt),
        },
    }
    if needs_gateway(latest.engine):
        predictor["containers"] = [
            gateway_container(placement.namespace, spec.model, latest, rt.port)
        ]
    if len(spec.revisions) > 1:
        predictor["canaryTrafficPercent"] = latest.weight
    return {
        "apiVersion": ISVC_API_VERSION,
        "kind": "InferenceService",
        "metadata": {
            "name": names.object_name(spec.model),
            "namespace": placement.namespace,
            "labels": names.revision_labels(spec.env, spec.model, latest, placement.commit),
            "annotations": {
                **names.revision_annotations(latest, placement.commit),
                TAG_ROUTING: "true",
                names.DESIRED_SPEC: names.desired_spec_json(spec),
            },
        },
        "spec": {"predictor": predictor},
    }


def _scrape_target(rt: KServeRuntime) -> tuple[int, str] | None:
    """The pod port and path Prometheus scrapes: the sidecar's, else the engine's own."""
    if needs_gateway(rt.engine):
        return GATEWAY_PORT, GATEWAY_METRICS_PATH
    return None if rt.metrics_path is None else (rt.port, rt.metrics_path)


def _metrics(rt: KServeRuntime) -> dict[str, str]:
    if _scrape_target(rt) is None:
        return {}
    return {
        "serving.kserve.io/enable-prometheus-scraping": "true",
        **metrics_annotations_for(rt),
    }


def metrics_annotations_for(rt: KServeRuntime) -> dict[str, str]:
    """KServe's scrape annotations for a runtime's metrics endpoint (none without one)."""
    target = _scrape_target(rt)
    if target is None:
        return {}
    port, path = target
    return {"prometheus.kserve.io/port": str(port), "prometheus.kserve.io/path": path}
