"""The production gate's capacity on Kubernetes: nodes and pods read over HTTP from kmock's
emulated API server through the official client, decided by
llm_platform.targets.kubernetes.capacity."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from llm_platform.config.environment import EnvironmentConfig
from llm_platform.config.schema import ModelConfig, Resources
from llm_platform.targets.kubernetes.api import KubernetesApiError, api_client, list_all
from llm_platform.targets.kubernetes.capacity_source import (
    cluster_capacity_item,
    read_cluster,
    replicas_to_place,
)
from llm_platform.targets.kubernetes.pod_resources import node_pool, replica_resources
from resources.capacity import KubernetesCapacityResource
from tests.helpers.kube_emulator_fixtures import EmulatedCluster, node, pod

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

GPU_POOL = {"node-type": "gpu-a100"}
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}


def env(
    *,
    selector: dict[str, str] | None = None,
    strategy: str = "blue-green",
    replicas: int = 1,
    memory_multiplier: float = 1.0,
    gpu_multiplier: float = 1.0,
    max_surge: int | str = 1,
) -> EnvironmentConfig:
    return EnvironmentConfig.model_validate(
        {
            "environment": "production",
            "namespace": "production",
            "cluster": {"gpu_node_selector": GPU_POOL if selector is None else selector},
            "resources": {
                "default_limits": {
                    "memory_multiplier": memory_multiplier,
                    "gpu_multiplier": gpu_multiplier,
                }
            },
            "autoscaling": {"enabled": True, "min_replicas": replicas, "max_replicas": 8},
            "deployment": {"strategy": strategy, "max_surge": max_surge},
        }
    )


def model(memory_gb: float = 24, gpus: int = 1) -> Resources:
    return Resources(memory_gb=memory_gb, gpu_count=gpus)


def seed(core: client.CoreV1Api, nodes: list[dict], pods: list[dict] = ()) -> None:
    """Create the objects over HTTP, as a cluster would hold them."""
    for body in nodes:
        core.create_node(body)
    for body in pods:
        core.create_namespaced_pod(body["metadata"]["namespace"], body)


def gate(kubeconfig: Path, environment: EnvironmentConfig, resources: Resources):
    with api_client(str(kubeconfig)) as api:
        snapshot = read_cluster(api)
    return cluster_capacity_item(snapshot, env=environment, resources=resources)


def test_fits_when_allocatable_minus_requested_is_enough(core, kubeconfig):
    seed(
        core,
        [node("gpu-1", memory="64Gi", gpus=2, labels=GPU_POOL, taints=[GPU_TAINT])],
        [pod("other", node_name="gpu-1", memory="30Gi", gpus=1, namespace="team-a")],
    )
    item = gate(kubeconfig, env(), model(memory_gb=24, gpus=1))
    assert item.ok, item.reason
    assert "node pool node-type=gpu-a100" in item.reason
    assert "gpu-1" in item.reason


def test_refused_when_running_pods_leave_too_little_and_the_shortfall_is_named(core, kubeconfig):
    seed(
        core,
        [node("gpu-1", memory="64Gi", gpus=2, labels=GPU_POOL, taints=[GPU_TAINT])],
        [
            pod("a", node_name="gpu-1", memory="50Gi", gpus=1, namespace="team-a"),
            # Finished pods hold nothing.
            pod("done", node_name="gpu-1", memory="60Gi", gpus=1, phase="Succeeded"),
        ],
    )
    item = gate(kubeconfig, env(), model(memory_gb=24, gpus=1))
    assert not item.ok
    assert item.reason.startswith("node pool node-type=gpu-a100:")
    # 64Gi - 50Gi = 14Gi free; 24Gi needed: 10Gi (10240Mi) short, the GPU fits.
    assert "closest node gpu-1 is short 10240Mi" in item.reason
    assert "GPU" not in item.reason.split("short", 1)[1].split("(")[0]


def test_multipliers_scale_the_request(core, kubeconfig):
    seed(core, [node("gpu-1", memory="40Gi", gpus=2, labels=GPU_POOL)])
    assert gate(kubeconfig, env(), model(memory_gb=32)).ok
    refused = gate(kubeconfig, env(memory_multiplier=1.5), model(memory_gb=32))
    assert not refused.ok
    assert "49152Mi" in refused.reason  # 32 GiB x 1.5
    gpu_refused = gate(kubeconfig, env(gpu_multiplier=3), model(memory_gb=32))
    assert not gpu_refused.ok
    assert "short 1 GPU" in gpu_refused.reason  # 1 x 3 = 3 GPUs on a 2-GPU node


def test_untolerated_taint_makes_a_node_ineligible(core, kubeconfig):
    other_taint = {"key": "dedicated", "value": "batch", "effect": "NoSchedule"}
    seed(core, [node("gpu-1", memory="80Gi", gpus=4, labels=GPU_POOL, taints=[other_taint])])
    item = gate(kubeconfig, env(), model())
    assert not item.ok
    assert "no node is eligible" in item.reason
    assert "gpu-1: taint dedicated=batch:NoSchedule not tolerated" in item.reason


def test_the_gpu_taint_is_tolerated(core, kubeconfig):
    seed(core, [node("gpu-1", memory="80Gi", gpus=4, labels=GPU_POOL, taints=[GPU_TAINT])])
    assert gate(kubeconfig, env(), model()).ok


def test_selector_mismatch_names_the_pool_and_the_skipped_nodes(core, kubeconfig):
    seed(
        core,
        [
            node("cpu-1", memory="256Gi", gpus=0, labels={"node-type": "cpu"}),
            node("gpu-v100", memory="256Gi", gpus=8, labels={"node-type": "gpu-v100"}),
        ],
    )
    item = gate(kubeconfig, env(), model())
    assert not item.ok
    assert item.reason.startswith("node pool node-type=gpu-a100:")
    assert "nodeSelector node-type=gpu-a100 not matched (node has 'gpu-v100')" in item.reason
    assert "cpu-1" in item.reason
    # Without a selector every node is in the pool and the GPU node fits.
    assert gate(kubeconfig, env(selector={}), model()).ok


def test_gpus_must_fit_on_one_node_not_summed_across_nodes(core, kubeconfig):
    seed(
        core,
        [
            node("gpu-1", memory="128Gi", gpus=2, labels=GPU_POOL),
            node("gpu-2", memory="128Gi", gpus=2, labels=GPU_POOL),
        ],
    )
    # 4 GPUs free in the pool, but no node has 3.
    item = gate(kubeconfig, env(), model(memory_gb=24, gpus=3))
    assert not item.ok
    assert "short 1 GPU" in item.reason
    # Two replicas of 2 GPUs: one per node.
    two = gate(kubeconfig, env(replicas=2), model(memory_gb=24, gpus=2))
    assert two.ok, two.reason
    assert "gpu-1" in two.reason and "gpu-2" in two.reason
    three = gate(kubeconfig, env(replicas=3), model(memory_gb=24, gpus=2))
    assert not three.ok
    assert "(2 placed)" in three.reason


def test_not_ready_nodes_are_skipped(core, kubeconfig):
    seed(core, [node("gpu-1", memory="80Gi", gpus=2, labels=GPU_POOL, ready=False)])
    item = gate(kubeconfig, env(), model())
    assert not item.ok
    assert "gpu-1: not Ready" in item.reason


def test_rolling_update_places_only_the_surge():
    assert replicas_to_place(env(strategy="rolling-update", replicas=4, max_surge=1)) == 1
    assert replicas_to_place(env(strategy="rolling-update", replicas=4, max_surge="50%")) == 2
    assert replicas_to_place(env(strategy="rolling-update", replicas=3, max_surge=0)) == 1
    assert replicas_to_place(env(strategy="canary", replicas=3)) == 3
    assert replicas_to_place(env(strategy="blue-green", replicas=2)) == 2


def test_replica_resources_round_up():
    each = replica_resources(
        model(memory_gb=10, gpus=1), env(memory_multiplier=0.85).resources.default_limits
    )
    assert each.memory == "8704Mi"  # ceil(10 x 0.85 x 1024)
    assert each.as_resource_list() == {"memory": "8704Mi", "nvidia.com/gpu": "1"}
    odd = replica_resources(
        model(memory_gb=16, gpus=2), env(gpu_multiplier=1.25).resources.default_limits
    )
    assert odd.gpus == 3  # 2 x 1.25 = 2.5 -> whole devices
    assert node_pool({}) == "all nodes (no cluster.gpu_node_selector)"


class PagedList:
    """A list call that pages like the API server: ``limit`` items, then a continue token."""

    def __init__(self, items: list[dict], *, fail_with: int | None = None) -> None:
        self.items, self.fail_with, self.calls = items, fail_with, []

    def __call__(self, *, limit: int, _preload_content: bool, _request_timeout: int, **kw):
        self.calls.append(kw)
        if self.fail_with:
            raise ApiException(status=self.fail_with, reason="Forbidden")
        start = int(kw.get("_continue") or 0)
        page = self.items[start : start + limit]
        more = start + limit < len(self.items)
        body = {"items": page, "metadata": {"continue": str(start + limit) if more else ""}}
        return SimpleNamespace(data=json.dumps(body).encode())


def test_list_all_reads_every_page(monkeypatch):
    monkeypatch.setattr("llm_platform.targets.kubernetes.api.PAGE_SIZE", 2)
    call = PagedList([{"metadata": {"name": f"n{i}"}} for i in range(5)])
    items = list_all(call, "nodes", field_selector="x")
    assert [i["metadata"]["name"] for i in items] == ["n0", "n1", "n2", "n3", "n4"]
    assert len(call.calls) == 3 and all(c["field_selector"] == "x" for c in call.calls)


def test_forbidden_is_an_rbac_error_with_its_status():
    with pytest.raises(KubernetesApiError, match="cannot list nodes: HTTP 403 .*RBAC") as err:
        list_all(PagedList([], fail_with=403), "nodes")
    assert err.value.status == 403


def test_resource_reads_the_cluster_and_fails_closed_when_it_cannot(core, kubeconfig, tmp_path):
    seed(core, [node("gpu-1", memory="64Gi", gpus=1, labels=GPU_POOL)])
    cfg = ModelConfig.model_validate(
        {
            "name": "alpha",
            "version": "1.0.0",
            "architecture": "t",
            "resources": {"memory_gb": 80, "gpu_count": 1},
        }
    )
    resource = KubernetesCapacityResource(kubeconfig=str(kubeconfig))
    item = resource.gate_item(None, env=env(), model=cfg, artifact_bytes=0)  # type: ignore[arg-type]
    assert not item.ok and "closest node gpu-1" in item.reason
    # An API server that does not answer: refused, never a pass.
    dead = EmulatedCluster()
    dead_config = dead.write_kubeconfig(tmp_path / "dead")
    dead.stop()
    unreachable = KubernetesCapacityResource(kubeconfig=str(dead_config))
    refused = unreachable.gate_item(None, env=env(), model=cfg, artifact_bytes=0)  # type: ignore[arg-type]
    assert not refused.ok
    assert refused.reason.startswith("cluster capacity unknown: cannot list nodes")


def test_missing_kubeconfig_is_a_clear_error(tmp_path):
    with pytest.raises(KubernetesApiError, match="no Kubernetes configuration usable from"):
        api_client(str(tmp_path / "absent"))


def test_the_kubernetes_target_gets_the_cluster_capacity_check(tmp_path):
    from definitions import capacity_for
    from llm_platform.settings import Settings
    from resources.capacity import LocalCapacityResource

    on_cluster = Settings.from_env(
        {"LLM_PLATFORM_HOME": str(tmp_path), "LLM_PLATFORM_TARGET": "kubernetes"}
    )
    assert isinstance(capacity_for(on_cluster), KubernetesCapacityResource)
    local = Settings.from_env({"LLM_PLATFORM_HOME": str(tmp_path)})
    assert isinstance(capacity_for(local), LocalCapacityResource)
