"""The production gate's capacity condition as a Dagster resource, per target.

The local target checks this machine's memory for the servers it starts; the Kubernetes
target reads nodes and pods through the API and places the new replicas on the environment's
node pool. Both return a :class:`~llm_platform.promotion.gate.GateItem`; the decisions live in
``llm_platform``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import dagster as dg

from llm_platform.config.applicability import serving_replicas
from llm_platform.config.environment import EnvironmentConfig
from llm_platform.config.schema import ModelConfig
from llm_platform.promotion.gate import GateItem, local_capacity_item
from llm_platform.settings import kubeconfig_for
from llm_platform.targets.base import Runtime
from llm_platform.targets.kubernetes.api import ClusterAccessError, api_client
from llm_platform.targets.kubernetes.capacity_source import cluster_capacity_item, read_cluster


class CapacityResource(dg.ConfigurableResource, ABC):
    """Whether a promotion's new replicas fit on the target right now."""

    @abstractmethod
    def gate_item(
        self, runtime: Runtime, *, env: EnvironmentConfig, model: ModelConfig, artifact_bytes: int
    ) -> GateItem:
        """The capacity condition for promoting ``model`` into ``env``."""


class LocalCapacityResource(CapacityResource):
    """This machine: old and new local servers side by side must fit in available memory."""

    def gate_item(
        self, runtime: Runtime, *, env: EnvironmentConfig, model: ModelConfig, artifact_bytes: int
    ) -> GateItem:
        """:func:`~llm_platform.promotion.gate.local_capacity_item` on the runtime's report."""
        return local_capacity_item(
            runtime.capacity(),
            artifact_bytes=artifact_bytes,
            revisions=2 * serving_replicas(env.autoscaling),  # old + new replicas at once
        )


class KubernetesCapacityResource(CapacityResource):
    """The cluster: allocatable minus requested on ``env``'s node pool, per-node GPU fit.

    ``kubeconfig`` names a kubeconfig file; unset, the pod's service account is used in a
    cluster (else ``KUBECONFIG`` / ``~/.kube/config``). It needs ``list`` on nodes and pods.
    """

    kubeconfig: str | None = None
    #: ``LLM_PLATFORM_KUBECONFIG_<ENV>`` -> path: an environment's own cluster is the one read.
    kubeconfigs: dict[str, str] = {}

    def gate_item(
        self, runtime: Runtime, *, env: EnvironmentConfig, model: ModelConfig, artifact_bytes: int
    ) -> GateItem:
        """:func:`~llm_platform.targets.kubernetes.capacity_source.cluster_capacity_item` on a fresh
        snapshot of ``env``'s cluster; an unreadable cluster fails the condition (the gate fails
        closed)."""
        kubeconfig = kubeconfig_for(env.environment, self.kubeconfigs, self.kubeconfig)
        try:
            with api_client(kubeconfig) as api:
                snapshot = read_cluster(api)
        except ClusterAccessError as exc:
            return GateItem(name="capacity", ok=False, reason=f"cluster capacity unknown: {exc}")
        return cluster_capacity_item(snapshot, env=env, resources=model.resources)
