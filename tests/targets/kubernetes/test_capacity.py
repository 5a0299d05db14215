"""Capacity maths: Kubernetes quantities, free resources per node, replica placement."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubernetes import client as k8s

from llm_platform.targets.kubernetes.capacity import (
    GPU,
    QuantityError,
    check_fit,
    node_free,
    parse_quantity,
    pod_requests,
    tolerates,
)

Ki, Mi, Gi = 1024, 1024**2, 1024**3
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
SELECTOR = {"node-type": "gpu-v100"}


def node(
    name: str,
    *,
    memory: str = "62Gi",
    gpus: int = 4,
    cpu: str = "16",
    taints=None,  # noqa: ANN001
    labels=None,
    unschedulable: bool = False,
    ready: bool = True,
) -> dict[str, Any]:  # noqa: ANN001
    return {
        "metadata": {
            "name": name,
            "labels": {"node-type": "gpu-v100"} if labels is None else labels,
        },
        "spec": {"taints": taints or [], **({"unschedulable": True} if unschedulable else {})},
        "status": {
            "allocatable": {"cpu": cpu, "memory": memory, GPU: str(gpus), "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def pod(
    node_name: str | None,
    *,
    memory: str = "1Gi",
    gpus: int = 0,
    cpu: str = "500m",
    phase: str = "Running",
    init: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    requests = {"memory": memory, "cpu": cpu, **({GPU: str(gpus)} if gpus else {})}
    return {
        "metadata": {"name": f"p-{node_name}"},
        "spec": {
            **({"nodeName": node_name} if node_name else {}),
            "containers": [{"name": "app", "resources": {"requests": requests}}],
            "initContainers": init or [],
        },
        "status": {"phase": phase},
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15923Mi", 15923 * Mi),
        ("16Gi", 16 * Gi),
        ("1536Mi", 1536 * Mi),
        ("2000m", 2),
        ("1e9", 10**9),
        ("12E6", 12 * 10**6),
        ("1e-3", Decimal("0.001")),
        ("1E", 10**18),
        ("100Ki", 100 * Ki),
        ("1Ti", 1024**4),
        ("2Pi", 2 * 1024**5),
        ("1Ei", 1024**6),
        ("1k", 1000),
        ("3M", 3 * 10**6),
        ("4G", 4 * 10**9),
        ("1T", 10**12),
        ("1P", 10**15),
        ("250n", Decimal("0.00000025")),
        ("5u", Decimal("0.000005")),
        ("1.5Gi", 3 * Gi // 2),
        (".5", Decimal("0.5")),
        ("+7", 7),
        ("0", 0),
        ("128974848", 128974848),
        (4, 4),
        (0.5, Decimal("0.5")),
        (Decimal("2.5"), Decimal("2.5")),
    ],
)
def test_parse_quantity(text: str | int | float, expected: int | Decimal) -> None:
    assert parse_quantity(text) == Decimal(expected)


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "abc",
        "1GB",
        "1gi",
        "Gi",
        "1.2.3",
        "1e",
        "--1",
        "1 Gi",
        "0x10",
        "1e3Mi",
        True,
        None,
        float("nan"),
        float("inf"),
        [1],
    ],
)
def test_parse_quantity_rejects_junk(junk: object) -> None:
    with pytest.raises(QuantityError, match="quantity"):
        parse_quantity(junk)  # type: ignore[arg-type]


@given(
    st.integers(min_value=0, max_value=10**6),
    st.sampled_from(
        [
            ("Ki", 1024),
            ("Mi", Mi),
            ("Gi", Gi),
            ("m", Decimal("0.001")),
            ("k", 1000),
            ("M", 10**6),
            ("", 1),
            ("e3", 1000),
        ]
    ),
)
def test_parse_quantity_scales_any_integer(number: int, suffix: tuple[str, Any]) -> None:
    assert parse_quantity(f"{number}{suffix[0]}") == number * Decimal(suffix[1])


def test_pod_requests_follow_init_container_rules() -> None:
    big_init = {"name": "fetch", "resources": {"requests": {"memory": "8Gi", "cpu": "100m"}}}
    p = pod("a", memory="2Gi", cpu="1", init=[big_init])
    p["spec"]["containers"].append({"name": "side", "resources": {"requests": {"memory": "1Gi"}}})
    assert pod_requests(p) == {"memory": 8 * Gi, "cpu": Decimal(1)}
    # A sidecar (init container with restartPolicy Always) runs alongside the app containers.
    sidecar = {
        "name": "proxy",
        "restartPolicy": "Always",
        "resources": {"requests": {"memory": "512Mi"}},
    }
    p["spec"]["initContainers"] = [sidecar, big_init]
    p["spec"]["overhead"] = {"memory": "64Mi"}
    assert pod_requests(p)["memory"] == 8 * Gi + 512 * Mi + 64 * Mi


def test_node_free_counts_only_live_pods_on_that_node() -> None:
    n = node("gpu-a", memory="15923Mi", gpus=2, cpu="8")
    pods = [
        pod("gpu-a", memory="1536Mi", gpus=1, cpu="2000m"),
        pod("gpu-a", memory="4Gi", phase="Succeeded"),
        pod("gpu-a", memory="4Gi", phase="Failed"),
        pod("gpu-b", memory="4Gi", gpus=1),
        pod(None, memory="4Gi"),  # pending, not scheduled anywhere
        pod("gpu-a", memory="1e9", phase="Pending"),  # bound, starting: it counts
    ]
    free = node_free(n, pods)
    assert free["memory"] == 15923 * Mi - 1536 * Mi - 10**9
    assert free[GPU] == 1
    assert free["cpu"] == Decimal(8) - Decimal(2) - Decimal("0.5")


def test_taint_matching() -> None:
    taint = {"key": "dedicated", "value": "llm", "effect": "NoSchedule"}
    assert tolerates(taint, [{"key": "dedicated", "operator": "Equal", "value": "llm"}])
    assert tolerates(taint, [{"key": "dedicated", "value": "llm", "effect": "NoSchedule"}])
    assert tolerates(taint, [{"operator": "Exists"}])
    assert not tolerates(taint, [{"key": "dedicated", "value": "other"}])
    assert not tolerates(taint, [{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}])
    assert not tolerates(taint, [])


def test_tainted_gpu_nodes_are_usable_with_a_toleration() -> None:
    nodes = [node("gpu-a", taints=[GPU_TAINT]), node("gpu-b", taints=[GPU_TAINT])]
    verdict = check_fit(
        nodes,
        [],
        replicas=2,
        memory_bytes="16Gi",
        gpus=1,
        node_selector=SELECTOR,
        tolerations=[GPU_TOLERATION],
    )
    assert verdict.fits and sorted(verdict.placements) == ["gpu-a", "gpu-b"]
    without = check_fit(
        nodes, [], replicas=1, memory_bytes="16Gi", gpus=1, node_selector=SELECTOR, tolerations=[]
    )
    assert not without.fits and "not tolerated" in without.per_node[0]["reason"]
    assert without.closest_node is None  # no node is eligible: the whole request is missing
    assert without.shortfall == {"memory": 16 * Gi, GPU: 1}


def test_memory_already_requested_on_a_node_is_not_free() -> None:
    # 128Gi allocatable in all, but the running pods leave 4Gi per node: 16Gi fits nowhere.
    nodes = [node("gpu-a", memory="64Gi"), node("gpu-b", memory="64Gi")]
    pods = [pod("gpu-a", memory="60Gi"), pod("gpu-b", memory="60Gi")]
    verdict = check_fit(
        nodes,
        pods,
        replicas=1,
        memory_bytes=16 * Gi,
        gpus=1,
        node_selector=SELECTOR,
        tolerations=[],
    )
    assert not verdict.fits and "does not fit" in verdict.reason
    assert verdict.closest_node == "gpu-a" and verdict.shortfall == {"memory": 12 * Gi}


def test_memory_in_mebibytes_is_compared_exactly() -> None:
    nodes = [node("gpu-a", memory="15923Mi")]
    pods = [pod("gpu-a", memory="1536Mi")]
    args: dict[str, Any] = dict(replicas=1, gpus=1, node_selector=SELECTOR, tolerations=[])
    assert check_fit(nodes, pods, memory_bytes="14Gi", **args).fits  # 14387Mi >= 14336Mi
    over = check_fit(nodes, pods, memory_bytes="14388Mi", **args)
    assert not over.fits and over.shortfall == {"memory": 1 * Mi}


def test_gpus_of_one_replica_are_never_split_across_nodes() -> None:
    # 4 GPUs free in the cluster, 2 per node: a 4-GPU replica fits nowhere.
    nodes = [node("gpu-a", gpus=4), node("gpu-b", gpus=4)]
    pods = [pod("gpu-a", gpus=2), pod("gpu-b", gpus=2)]
    verdict = check_fit(
        nodes, pods, replicas=1, memory_bytes="16Gi", gpus=4, node_selector=SELECTOR, tolerations=[]
    )
    assert not verdict.fits and verdict.placements == []
    assert [row["free"][GPU] for row in verdict.per_node] == ["2", "2"]
    assert verdict.closest_node == "gpu-a" and verdict.shortfall == {GPU: 2}
    assert check_fit(
        nodes, pods, replicas=2, memory_bytes="16Gi", gpus=2, node_selector=SELECTOR, tolerations=[]
    ).fits


def test_closest_node_misses_the_fewest_resources_then_the_fewest_gpus() -> None:
    nodes = [
        node("a-short-of-both", gpus=1, memory="8Gi"),
        node("b-short-of-two-gpus", gpus=1, memory="64Gi"),
        node("c-short-of-memory", gpus=4, memory="8Gi"),
        node("d-short-of-one-gpu", gpus=2, memory="64Gi"),
    ]
    args: dict[str, Any] = dict(
        replicas=1, memory_bytes="16Gi", gpus=3, node_selector=SELECTOR, tolerations=[]
    )
    verdict = check_fit(nodes, [], **args)
    assert not verdict.fits
    assert verdict.closest_node == "c-short-of-memory" and verdict.shortfall == {"memory": 8 * Gi}
    verdict = check_fit(
        [n for n in nodes if n["metadata"]["name"] != "c-short-of-memory"], [], **args
    )
    assert verdict.closest_node == "d-short-of-one-gpu" and verdict.shortfall == {GPU: 1}
    # A later replica that does not fit names the node that came closest after the earlier ones.
    two = check_fit(
        [node("gpu-a", gpus=1, memory="20Gi")],
        [],
        replicas=2,
        memory_bytes="16Gi",
        gpus=1,
        node_selector=SELECTOR,
        tolerations=[],
    )
    assert not two.fits and two.placements == ["gpu-a"]
    assert two.closest_node == "gpu-a" and two.shortfall == {"memory": 12 * Gi, GPU: 1}


def test_cordoned_not_ready_unselected_and_prefer_no_schedule() -> None:
    nodes = [
        node("a-cordoned", unschedulable=True),
        node("b-notready", ready=False),
        node("c-cpu", labels={"node-type": "cpu"}),
        node("d-prefer", taints=[{"key": "x", "effect": "PreferNoSchedule"}], gpus=1),
        node("e-noexec", taints=[{"key": "maint", "value": "1", "effect": "NoExecute"}]),
    ]
    verdict = check_fit(
        nodes, [], replicas=1, memory_bytes="8Gi", gpus=1, node_selector=SELECTOR, tolerations=[]
    )
    assert verdict.fits and verdict.placements == ["d-prefer"]
    reasons = {row["node"]: row["reason"] for row in verdict.per_node}
    assert "cordoned" in reasons["a-cordoned"] and "not Ready" in reasons["b-notready"]
    assert "nodeSelector node-type=gpu-v100" in reasons["c-cpu"]
    assert "maint=1:NoExecute" in reasons["e-noexec"]
    two = check_fit(
        nodes, [], replicas=2, memory_bytes="8Gi", gpus=1, node_selector=SELECTOR, tolerations=[]
    )
    assert not two.fits and "replica 2 of 2" in two.reason and two.placements == ["d-prefer"]


def test_greedy_placement_spreads_and_counts_down() -> None:
    nodes = [node("gpu-a", gpus=2, memory="64Gi"), node("gpu-b", gpus=1, memory="32Gi")]
    verdict = check_fit(
        nodes,
        [],
        replicas=3,
        memory_bytes="16Gi",
        gpus=1,
        cpu="2000m",
        node_selector=SELECTOR,
        tolerations=[],
    )
    assert verdict.fits and sorted(verdict.placements) == ["gpu-a", "gpu-a", "gpu-b"]
    assert {row["node"]: row["replicas"] for row in verdict.per_node} == {"gpu-a": 2, "gpu-b": 1}
    assert not check_fit(
        nodes, [], replicas=4, memory_bytes="16Gi", gpus=1, node_selector=SELECTOR, tolerations=[]
    ).fits
    # CPU is honoured when requested: 16 cores per node, 9 per replica -> one per node.
    assert not check_fit(
        nodes,
        [],
        replicas=3,
        memory_bytes="1Gi",
        gpus=0,
        cpu=9,
        node_selector=SELECTOR,
        tolerations=[],
    ).fits


def test_kubernetes_client_objects_via_to_dict() -> None:
    n = k8s.V1Node(
        metadata=k8s.V1ObjectMeta(name="gpu-a", labels=SELECTOR),
        spec=k8s.V1NodeSpec(
            taints=[k8s.V1Taint(key="nvidia.com/gpu", value="present", effect="NoSchedule")]
        ),
        status=k8s.V1NodeStatus(allocatable={"memory": "15923Mi", GPU: "2", "cpu": "8"}),
    )
    init = k8s.V1Container(
        name="fetch", resources=k8s.V1ResourceRequirements(requests={"memory": "12Gi"})
    )
    app = k8s.V1Container(
        name="app", resources=k8s.V1ResourceRequirements(requests={"memory": "1536Mi", GPU: "1"})
    )
    p = k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name="x"),
        spec=k8s.V1PodSpec(node_name="gpu-a", containers=[app], init_containers=[init]),
        status=k8s.V1PodStatus(phase="Running"),
    )
    free = node_free(n.to_dict(), [p.to_dict()])
    assert free["memory"] == 15923 * Mi - 12 * Gi and free[GPU] == 1
    toleration = k8s.V1Toleration(key="nvidia.com/gpu", operator="Exists").to_dict()
    verdict = check_fit(
        [n.to_dict()],
        [p.to_dict()],
        replicas=1,
        memory_bytes="3Gi",
        gpus=1,
        node_selector=SELECTOR,
        tolerations=[toleration],
    )
    assert verdict.fits and verdict.placements == ["gpu-a"]


def test_bad_quantities_in_cluster_objects_raise() -> None:
    broken = node("gpu-a", memory="lots")
    with pytest.raises(QuantityError, match="'lots'"):
        check_fit(
            [broken], [], replicas=1, memory_bytes="1Gi", gpus=1, node_selector={}, tolerations=[]
        )
    with pytest.raises(ValueError, match="replicas"):
        check_fit([], [], replicas=0, memory_bytes="1Gi", gpus=1)
