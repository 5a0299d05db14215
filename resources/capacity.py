"""The production gate's capacity condition as a Dagster resource, one per target.

The local target checks this machine's memory for the servers it starts; the Kubernetes
target reads nodes and pods through the API and places the new replicas on the environment's
node pool. Both count the replicas at the peak of the environment's strategy. The decisions
live in each target's ``capacity_item`` (:data:`llm_platform.targets.registry.TARGETS`); these
resources only hold its configuration.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import dagster as dg

from llm_platform.common.gate_item import GateItem
from llm_platform.config.environment import EnvironmentConfig
from llm_platform.config.schema import ModelConfig
from llm_platform.settings import Settings
from llm_platform.targets.base import Runtime
from llm_platform.targets.options import TargetOptions
from llm_platform.targets.registry import KUBERNETES, LOCAL, TARGETS, TargetSpec


class CapacityResource(dg.ConfigurableResource, ABC):
    """Whether a promotion's new replicas fit on the target right now."""

    #: The target this resource checks.
    target: ClassVar[TargetSpec]

    @classmethod
    @abstractmethod
    def for_settings(cls, settings: Settings) -> CapacityResource:
        """The resource configured from the platform settings."""

    @abstractmethod
    def options(self) -> TargetOptions:
        """The configuration the target's capacity check reads."""

    def gate_item(
        self, runtime: Runtime, *, env: EnvironmentConfig, model: ModelConfig, artifact_bytes: int
    ) -> GateItem:
        """The capacity condition for promoting ``model`` into ``env``."""
        return self.target.capacity_item(runtime, env, model, artifact_bytes, self.options())


class LocalCapacityResource(CapacityResource):
    """This machine: the old and new local servers that run at once at the peak of the
    environment's strategy must fit in available memory."""

    target: ClassVar[TargetSpec] = LOCAL

    @classmethod
    def for_settings(cls, settings: Settings) -> LocalCapacityResource:
        """Nothing to configure."""
        return cls()

    def options(self) -> TargetOptions:
        """Nothing: the runtime reports this machine's memory."""
        return TargetOptions()


class KubernetesCapacityResource(CapacityResource):
    """The cluster: allocatable minus requested on ``env``'s node pool, per-node GPU fit.

    ``kubeconfig`` names a kubeconfig file; unset, the pod's service account is used in a
    cluster (else ``KUBECONFIG`` / ``~/.kube/config``). It needs ``list`` on nodes and pods.
    """

    target: ClassVar[TargetSpec] = KUBERNETES
    kubeconfig: str | None = None
    #: ``LLM_PLATFORM_KUBECONFIG_<ENV>`` -> path: an environment's own cluster is the one read.
    kubeconfigs: dict[str, str] = {}

    @classmethod
    def for_settings(cls, settings: Settings) -> KubernetesCapacityResource:
        """The per-environment kubeconfigs of the settings."""
        return cls(kubeconfigs=settings.kubeconfigs)

    def options(self) -> TargetOptions:
        """The kubeconfigs to read each environment's cluster with."""
        return TargetOptions(kubeconfig=self.kubeconfig, kubeconfigs=self.kubeconfigs)


#: The capacity resource of each target, by target name.
CAPACITY_RESOURCES: dict[str, type[CapacityResource]] = {
    cls.target.name: cls for cls in (LocalCapacityResource, KubernetesCapacityResource)
}
if set(CAPACITY_RESOURCES) != set(TARGETS):
    raise ImportError(
        f"CAPACITY_RESOURCES covers {sorted(CAPACITY_RESOURCES)}, not {sorted(TARGETS)}"
    )
