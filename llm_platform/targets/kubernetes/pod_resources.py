"""What one model replica asks of a Kubernetes node: memory, GPUs, node pool and tolerations.

One definition for the manifests the Kubernetes runtime renders and for the capacity gate that
decides whether those replicas fit, so the gate never checks different numbers than the pods
request. ``memory_gb`` is GiB; the environment's ``resources.default_limits`` multiply it and
``gpu_count`` (GPUs are whole devices, so a fractional product is rounded up).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from llm_platform.config.environment import DefaultLimits
from llm_platform.config.schema import Resources
from llm_platform.targets.kubernetes.capacity import GPU

MIB_PER_GIB = 1024

#: Tolerations of every model pod: GPU nodes are commonly tainted ``nvidia.com/gpu`` (any value,
#: NoSchedule) so that only pods which asked for a GPU land there.
GPU_TOLERATIONS: tuple[dict[str, str], ...] = (
    {"key": GPU, "operator": "Exists", "effect": "NoSchedule"},
)


class ReplicaResources(BaseModel):
    """Requests (= limits) of one replica's serving container."""

    model_config = ConfigDict(frozen=True)

    memory_mib: int
    gpus: int

    @property
    def memory(self) -> str:
        """The memory as a Kubernetes quantity (``"24576Mi"``)."""
        return f"{self.memory_mib}Mi"

    @property
    def memory_bytes(self) -> int:
        """The memory in bytes."""
        return self.memory_mib * 1024 * 1024

    def as_resource_list(self) -> dict[str, str]:
        """``{"memory": ..., "nvidia.com/gpu": ...}`` for a container's requests and limits."""
        return {"memory": self.memory, GPU: str(self.gpus)}


def replica_resources(resources: Resources, limits: DefaultLimits) -> ReplicaResources:
    """The model's ``resources`` scaled by the environment's ``default_limits`` multipliers.

    Args:
        resources: ``model.yaml``'s ``resources`` (``memory_gb`` GiB, ``gpu_count``).
        limits: ``config/<env>.yaml``'s ``resources.default_limits``.

    Returns:
        Memory rounded up to whole MiB, GPUs rounded up to whole devices.
    """
    memory_mib = math.ceil(resources.memory_gb * limits.memory_multiplier * MIB_PER_GIB)
    gpus = math.ceil(resources.gpu_count * limits.gpu_multiplier)
    return ReplicaResources(memory_mib=memory_mib, gpus=gpus)


def node_pool(selector: Mapping[str, str]) -> str:
    """How a refusal names the nodes a selector picks (``cluster.gpu_node_selector``)."""
    if not selector:
        return "all nodes (no cluster.gpu_node_selector)"
    labels = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    return f"node pool {labels}"
