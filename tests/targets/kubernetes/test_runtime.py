"""KubernetesRuntime against kmock's emulated API server over real HTTP: apply, update,
blue-green switch, canary weights, promote, rollback, readiness by watch (status set by the
test like a controller would), timeout, 409 / 5xx retries and the RBAC error."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_platform.artifact_store import RegistryRecord
from llm_platform.promotion.rollout import rollback
from llm_platform.targets.base import (
    DeploymentNotFound,
    DeploymentNotReady,
    DeploymentSpec,
    InvalidDeploymentSpec,
    RevisionSpec,
)
from llm_platform.targets.kubernetes import names
from llm_platform.targets.kubernetes.apply import PLURALS, Cluster, KubernetesApiError, RbacDenied
from llm_platform.targets.kubernetes.context import CheckoutPlacements
from llm_platform.targets.kubernetes.runtime import KubernetesRuntime
from llm_platform.targets.kubernetes.storage_initializer import STORAGE_CONTAINER
from llm_platform.targets.kubernetes.storage_initializer import main as storage_initializer
from tests.helpers.k8s_fixtures import COMMIT, MODEL, register_gguf, write_checkout
from tests.helpers.kmock_fixtures import Fault, KubeServer, kube_server

ISVC_PATH = "/apis/serving.kserve.io/v1beta1/namespaces/staging/inferenceservices"
DEP_PATH = "/apis/apps/v1/namespaces/llm-prod/deployments"


@pytest.fixture
def server() -> Iterator[KubeServer]:
    with kube_server() as srv:
        yield srv


@pytest.fixture
def setup(tmp_path: Path, server: KubeServer) -> dict[str, Any]:
    root = write_checkout(tmp_path / "repo")
    records = [register_gguf(tmp_path / "store", tmp_path, seed=i) for i in range(2)]
    cluster = Cluster(server.api(), backoff_s=0.01)
    return {
        "rt": KubernetesRuntime(cluster, CheckoutPlacements(root)),
        "a": records[0],
        "b": records[1],
        "server": server,
    }


def rev(record: RegistryRecord, name: str, weight: int, color: str) -> RevisionSpec:
    return RevisionSpec(
        revision=name,
        version=record.version,
        digest=record.digest,
        artifact_uri=record.artifact_uri,
        color=color,  # type: ignore[arg-type]
        weight=weight,
        engine="llama-cpp",
    )


def spec(env: str, *revisions: RevisionSpec) -> DeploymentSpec:
    return DeploymentSpec(env=env, model=MODEL, revisions=list(revisions))


def patch_status(server: KubeServer, path: str, status: dict[str, Any]) -> None:
    """Set ``status`` through the API (merge patch of the status subresource)."""
    server.api().call_api(
        f"{path}/status",
        "PATCH",
        header_params={"Content-Type": "application/merge-patch+json"},
        body={"status": status},
        auth_settings=["BearerToken"],
    )


def isvc_ready(server: KubeServer, *, ready: bool = True, message: str = "") -> None:
    patch_status(
        server,
        f"{ISVC_PATH}/{MODEL}",
        {
            "url": f"http://{MODEL}.staging.example.com",
            "conditions": [
                {"type": "Ready", "status": "True" if ready else "False", "message": message}
            ],
            "components": {
                "predictor": {
                    "traffic": [
                        {"tag": "latest", "url": "http://latest-m.staging.example.com"},
                        {"tag": "prev", "url": "http://prev-m.staging.example.com"},
                    ]
                }
            },
        },
    )


def deployment_ready(server: KubeServer, name: str, replicas: int = 1) -> None:
    status = {"readyReplicas": replicas, "updatedReplicas": replicas}
    patch_status(server, f"{DEP_PATH}/{name}", status)


def isvc(server: KubeServer) -> dict[str, Any]:
    (obj,) = server.objects("inferenceservices")
    return obj


def test_first_apply_then_ready_by_a_watched_status(setup: dict[str, Any]) -> None:
    rt, a, server = setup["rt"], setup["a"], setup["server"]
    status = rt.apply(spec("staging", rev(a, "ra", 100, "blue")))
    assert not status.ready
    obj = isvc(server)
    assert obj["spec"]["predictor"]["model"]["storageUri"] == a.artifact_uri
    assert obj["metadata"]["labels"][names.COMMIT] == COMMIT
    assert [r["metadata"]["name"] for r in server.objects(PLURALS["ServingRuntime"])] == [
        "llm-platform-llama-cpp"
    ]
    timer = threading.Timer(0.5, isvc_ready, args=(server,))
    t0 = time.monotonic()
    timer.start()
    ready = rt.wait_ready("staging", MODEL, timeout_s=10)
    waited = time.monotonic() - t0
    timer.join()
    assert ready.ready and 0.4 < waited < 5  # woke up by the watch, not by the timeout
    assert ready.endpoint == f"http://{MODEL}.staging.example.com"
    assert ready.revisions[0].url == "http://latest-m.staging.example.com"
    assert rt.desired_spec("staging", MODEL) == spec("staging", rev(a, "ra", 100, "blue"))


def test_readiness_timeout_names_the_condition(setup: dict[str, Any]) -> None:
    rt, a, server = setup["rt"], setup["a"], setup["server"]
    rt.apply(spec("staging", rev(a, "ra", 100, "blue")))
    isvc_ready(server, ready=False, message="pulling image")
    t0 = time.monotonic()
    with pytest.raises(DeploymentNotReady, match="pulling image"):
        rt.wait_ready("staging", MODEL, timeout_s=1.0)
    assert time.monotonic() - t0 < 4


def test_the_verifying_storage_container_is_applied_and_a_mismatch_reported(
    setup: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rt, a, server = setup["rt"], setup["a"], setup["server"]
    rt.apply(spec("staging", rev(a, "ra", 100, "blue")))
    (csc,) = server.objects(PLURALS["ClusterStorageContainer"])
    assert csc["metadata"]["name"] == STORAGE_CONTAINER and "namespace" not in csc["metadata"]
    (uri_format,) = csc["spec"]["supportedUriFormats"]
    assert re.search(uri_format["regex"], a.artifact_uri)
    assert isvc(server)["spec"]["predictor"]["storageContainerName"] == STORAGE_CONTAINER
    patches = [path for method, path, _ in server.emulator.seen if method == "PATCH"]
    csc_path = f"/apis/serving.kserve.io/v1alpha1/clusterstoragecontainers/{STORAGE_CONTAINER}"
    assert patches.index(csc_path) < patches.index(f"{ISVC_PATH}/{MODEL}")  # before its users
    # The store's bytes change: the init container exits 1 and KServe copies its termination
    # message into the model status; the runtime's readiness timeout names it.
    stored = tmp_path / "store" / MODEL / a.version / a.digest / "files" / "model.gguf"
    stored.write_bytes(stored.read_bytes() + b"\0")
    assert storage_initializer([a.artifact_uri, str(tmp_path / "mnt-models")]) == 1
    message = capsys.readouterr().err.strip()
    failure = {"reason": "ModelLoadFailed", "message": message, "exitCode": 1}
    patch_status(
        server,
        f"{ISVC_PATH}/{MODEL}",
        {
            "conditions": [{"type": "Ready", "status": "False"}],
            "modelStatus": {"transitionStatus": "BlockedByFailedLoad", "lastFailureInfo": failure},
        },
    )
    with pytest.raises(DeploymentNotReady) as err:
        rt.wait_ready("staging", MODEL, timeout_s=1.0)
    assert "model ModelLoadFailed" in str(err.value)
    assert a.artifact_uri in str(err.value) and f"names {a.digest}" in str(err.value)


def test_canary_weights_promote_and_rollback(setup: dict[str, Any]) -> None:
    rt, a, b, server = setup["rt"], setup["a"], setup["b"], setup["server"]
    stable, canary = rev(a, "ra", 100, "stable"), rev(b, "rb", 0, "canary")
    rt.apply(spec("staging", stable))
    isvc_ready(server)
    rt.apply(spec("staging", stable, canary))  # update: the canary becomes the predictor
    predictor = isvc(server)["spec"]["predictor"]
    assert predictor["model"]["storageUri"] == b.artifact_uri
    assert predictor["canaryTrafficPercent"] == 0
    rt.set_weights("staging", MODEL, {"rb": 10, "ra": 90})
    assert isvc(server)["spec"]["predictor"]["canaryTrafficPercent"] == 10
    rt.set_weights("staging", MODEL, {"rb": 100, "ra": 0})  # promote
    assert isvc(server)["spec"]["predictor"]["canaryTrafficPercent"] == 100
    result = rollback(rt, env="staging", model=MODEL, to_revision="ra", ready_timeout_s=5)
    assert result.outcome == "rolled_back", result.reason
    predictor = isvc(server)["spec"]["predictor"]
    assert predictor["model"]["storageUri"] == a.artifact_uri
    assert "canaryTrafficPercent" not in predictor  # one revision again
    assert rt.desired_spec("staging", MODEL) == spec("staging", stable)


def test_set_weights_refuses_an_unready_revision(setup: dict[str, Any]) -> None:
    rt, a, b = setup["rt"], setup["a"], setup["b"]
    rt.apply(spec("staging", rev(a, "ra", 100, "stable"), rev(b, "rb", 0, "canary")))
    with pytest.raises(InvalidDeploymentSpec, match="not ready"):
        rt.set_weights("staging", MODEL, {"rb": 50, "ra": 50})
    with pytest.raises(DeploymentNotFound):
        rt.set_weights("staging", "other-model", {"x": 100})


def test_a_shadow_revision_is_refused_before_anything_is_applied(setup: dict[str, Any]) -> None:
    rt, a, b, server = setup["rt"], setup["a"], setup["b"], setup["server"]
    shadowed = rev(b, "rb", 0, "canary").model_copy(update={"shadow_percent": 50})
    with pytest.raises(InvalidDeploymentSpec, match="KServe cannot mirror"):
        rt.apply(spec("staging", rev(a, "ra", 100, "stable"), shadowed))
    assert server.objects("inferenceservices") == []


def test_blue_green_on_deployments_switches_the_service_and_prunes(setup: dict[str, Any]) -> None:
    rt, a, b, server = setup["rt"], setup["a"], setup["b"], setup["server"]
    blue, green = rev(a, "ra", 100, "blue"), rev(b, "rb", 0, "green")
    rt.apply(spec("production", blue))
    assert {d["metadata"]["name"] for d in server.objects("deployments")} == {f"{MODEL}-ra"}
    assert len(server.objects("horizontalpodautoscalers")) == 1
    deployment_ready(server, f"{MODEL}-ra", 2)
    assert rt.wait_ready("production", MODEL, timeout_s=5).ready
    rt.apply(spec("production", blue, green))

    def selector() -> dict[str, str]:
        (svc,) = [s for s in server.objects("services") if s["metadata"]["name"] == MODEL]
        return svc["spec"]["selector"]

    assert selector()[names.COLOR] == "blue"
    with pytest.raises(InvalidDeploymentSpec, match="not ready"):
        rt.set_weights("production", MODEL, {"rb": 100})
    threading.Timer(0.3, deployment_ready, args=(server, f"{MODEL}-rb", 2)).start()
    assert rt.wait_ready("production", MODEL, timeout_s=5).ready
    rt.set_weights("production", MODEL, {"rb": 100, "ra": 0})  # the switch
    assert selector()[names.COLOR] == "green"
    rt.set_weights("production", MODEL, {"ra": 100, "rb": 0})  # and back
    assert selector()[names.COLOR] == "blue"
    rt.apply(spec("production", green.model_copy(update={"weight": 100})))
    # the dropped revision keeps its objects until the desired ones are ready
    assert len(server.objects("deployments")) == 2
    status = rt.wait_ready("production", MODEL, timeout_s=5)
    assert status.endpoint == f"http://{MODEL}.llm-prod.svc:80"
    assert {d["metadata"]["name"] for d in server.objects("deployments")} == {f"{MODEL}-rb"}
    assert {s["metadata"]["name"] for s in server.objects("services")} == {MODEL, f"{MODEL}-rb"}
    rt.delete("production", MODEL)
    assert server.objects("deployments") == [] and server.objects("services") == []
    assert rt.status("production", MODEL) is None


def test_conflicts_are_retried_until_success(setup: dict[str, Any]) -> None:
    rt, a, server = setup["rt"], setup["a"], setup["server"]
    server.faults.append(Fault("PATCH", "/inferenceservices/", 409, times=2))
    rt.apply(spec("staging", rev(a, "ra", 100, "blue")))
    codes = [
        code
        for method, path, code in server.emulator.seen
        if "inferenceservices/" in path and method == "PATCH"
    ]
    assert codes == [409, 409, 200]


def test_server_errors_are_retried_then_reported(setup: dict[str, Any]) -> None:
    rt, a, server = setup["rt"], setup["a"], setup["server"]
    rt.apply(spec("staging", rev(a, "ra", 100, "blue")))
    server.faults.append(Fault("GET", f"/inferenceservices/{MODEL}", 503, times=2))
    assert rt.status("staging", MODEL) is not None  # two 503s, then the object
    server.faults.append(Fault("GET", f"/inferenceservices/{MODEL}", 500, times=10))
    with pytest.raises(KubernetesApiError) as err:
        rt.status("staging", MODEL)
    assert err.value.status == 500 and "get InferenceService" in str(err.value)


def test_forbidden_is_an_rbac_error_naming_verb_and_resource(setup: dict[str, Any]) -> None:
    rt, a, server = setup["rt"], setup["a"], setup["server"]
    server.faults.append(Fault("PATCH", "/deployments/", 403, times=1))
    with pytest.raises(RbacDenied) as err:
        rt.apply(spec("production", rev(a, "ra", 100, "blue")))
    message = str(err.value)
    assert "may not patch deployments.apps in namespace llm-prod" in message
    assert err.value.verb == "patch" and err.value.resource == "deployments.apps"
    assert json.dumps(err.value.namespace) == '"llm-prod"'


def test_resource_reaches_the_cluster_of_kubeconfig_with_settings_from_git(
    server: KubeServer, models_repo: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Dagster resource: kubeconfig -> API server, models repo -> placement (the model at
    its registered commit, the environment at the branch head)."""
    from resources.runtime import KubernetesRuntimeResource

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "kmock", "cluster": {"server": server.url}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "c", "context": {"cluster": "kmock", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    registered_at = models_repo.head()
    record = register_gguf(tmp_path / "store", tmp_path, name="alpha", commit=registered_at)
    models_repo.write_model("alpha", memory=64)  # a later commit changes the model ...
    env_file = models_repo.path / "config" / "staging.yaml"  # ... and the namespace
    models_repo.write(
        "config/staging.yaml",
        env_file.read_text().replace("namespace: staging", "namespace: team-a"),
    )
    models_repo.commit("bigger alpha, new namespace")
    res = KubernetesRuntimeResource(home=str(tmp_path / "home"), models_repo=str(models_repo.path))
    rt = res.runtime()
    rt.apply(
        DeploymentSpec(env="staging", model="alpha", revisions=[rev(record, "ra", 100, "blue")])
    )
    (obj,) = server.objects("inferenceservices")
    assert obj["metadata"]["namespace"] == "team-a"  # the environment as it is now
    model = obj["spec"]["predictor"]["model"]
    assert model["resources"]["requests"]["memory"] == "13108Mi"  # 16 GiB (x 0.8) as registered
    assert obj["metadata"]["labels"][names.COMMIT] == registered_at
    assert rt.desired_spec("staging", "alpha") is not None


def test_list_deployments_and_capacity_read_the_cluster(setup: dict[str, Any]) -> None:
    rt, a, b = setup["rt"], setup["a"], setup["b"]
    rt.apply(spec("staging", rev(a, "ra", 100, "blue")))
    rt.apply(spec("production", rev(b, "rb", 100, "blue")))
    assert [(d.env, d.model) for d in rt.list_deployments()] == [
        ("production", MODEL),
        ("staging", MODEL),
    ]
    (prod,) = rt.list_deployments("production")
    assert prod.endpoint == f"http://{MODEL}.llm-prod.svc:80" and not prod.ready
    for name, memory in (("gpu-1", "64Gi"), ("gpu-2", "32Gi")):
        rt.cluster.apply(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name},
                "status": {"allocatable": {"memory": memory, "nvidia.com/gpu": "4"}},
            }
        )
    report = rt.capacity()
    assert report.memory_total_bytes == 96 * 1024**3 and report.gpus_enforced
