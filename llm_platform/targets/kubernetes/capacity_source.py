"""Capacity from the cluster's real objects: nodes and pods read through the official client.

:func:`read_cluster` takes a snapshot; :func:`cluster_capacity_item` decides, with the pure
maths of :mod:`llm_platform.targets.kubernetes.capacity`, whether a promotion's new replicas
fit next to everything already running (allocatable minus requested, per-node GPU fit, the
environment's node pool and the GPU tolerations every model pod carries).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from kubernetes import client
from pydantic import BaseModel, ConfigDict

from llm_platform.common.gate_item import GateItem
from llm_platform.common.strategy_names import STRATEGY_SPECS
from llm_platform.config.applicability import serving_replicas
from llm_platform.config.environment import EnvironmentConfig
from llm_platform.config.schema import Resources
from llm_platform.targets.kubernetes.api import list_all
from llm_platform.targets.kubernetes.capacity import GPU, CapacityVerdict, check_fit
from llm_platform.targets.kubernetes.pod_resources import (
    GPU_TOLERATIONS,
    node_pool,
    replica_resources,
)

_MIB = Decimal(1024 * 1024)
# Pods that hold no resources any more; the server-side filter keeps big clusters' lists short
# (targets.kubernetes.capacity filters them again, so a server that ignores it is still right).
_LIVE_PODS = "status.phase!=Succeeded,status.phase!=Failed"


class ClusterSnapshot(BaseModel):
    """Nodes and pods (raw Kubernetes JSON) read at one moment."""

    model_config = ConfigDict(frozen=True)

    nodes: list[dict[str, Any]]
    pods: list[dict[str, Any]]


def read_cluster(api: client.ApiClient) -> ClusterSnapshot:
    """All nodes and all live pods of every namespace.

    Raises:
        KubernetesApiError: The API refused (e.g. RBAC 403) or did not answer.
    """
    core = client.CoreV1Api(api)
    nodes = list_all(core.list_node, "nodes")
    pods = list_all(core.list_pod_for_all_namespaces, "pods", field_selector=_LIVE_PODS)
    return ClusterSnapshot(nodes=nodes, pods=pods)


def replicas_to_place(env: EnvironmentConfig) -> int:
    """New replicas that run next to the old revision at the peak of a rollout (the strategy's
    :meth:`~llm_platform.common.strategy_names.StrategySpec.peak_new_replicas`)."""
    strategy = STRATEGY_SPECS[env.deployment.strategy]
    return strategy.peak_new_replicas(serving_replicas(env.autoscaling), env.deployment.max_surge)


def _amount(resource: str, value: Decimal) -> str:
    if resource == "memory":
        return f"{math.ceil(value / _MIB)}Mi"
    if resource == GPU:
        return f"{value.normalize():f} GPU"
    return f"{value.normalize():f} {resource}"


def _refusal(verdict: CapacityVerdict, pool: str, each: str, replicas: int) -> str:
    short = ", ".join(_amount(r, v) for r, v in verdict.shortfall.items())
    if verdict.closest_node is None:
        where = "no node is eligible"
    else:
        where = f"closest node {verdict.closest_node} is short {short}"
    ineligible = [
        f"{row['node']}: {row['reason']}" for row in verdict.per_node if not row["eligible"]
    ]
    skipped = f"; skipped {'; '.join(ineligible[:5])}" if ineligible else ""
    if len(ineligible) > 5:
        skipped += f" and {len(ineligible) - 5} more"
    placed = len(verdict.placements)
    return f"{pool}: {replicas} replica(s) of {each} do not fit ({placed} placed); {where}{skipped}"


def cluster_capacity_item(
    snapshot: ClusterSnapshot, *, env: EnvironmentConfig, resources: Resources
) -> GateItem:
    """Do the promotion's new replicas fit on ``env``'s node pool right now?

    Args:
        snapshot: Nodes and pods of the cluster.
        env: The target environment (node selector, multipliers, replicas, strategy).
        resources: The model's ``resources`` block.

    Returns:
        The gate's capacity item; a refusal names the node pool and the shortfall.
    """
    each = replica_resources(resources, env.resources.default_limits)
    replicas = replicas_to_place(env)
    selector = env.cluster.gpu_node_selector
    verdict = check_fit(
        snapshot.nodes,
        snapshot.pods,
        replicas=replicas,
        memory_bytes=each.memory_bytes,
        gpus=each.gpus,
        node_selector=selector,
        tolerations=list(GPU_TOLERATIONS),
    )
    pool = node_pool(selector)
    size = f"{each.memory}, {each.gpus} GPU each"
    if not verdict.fits:
        return GateItem(name="capacity", ok=False, reason=_refusal(verdict, pool, size, replicas))
    return GateItem(
        name="capacity",
        ok=True,
        reason=f"{pool}: {replicas} new replica(s) of {size} fit: " + verdict.reason,
    )
