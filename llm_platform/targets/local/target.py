"""The local target's entry in :data:`llm_platform.targets.registry.TARGETS`: its runtime, its
capacity check and the environment keys it cannot honour."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llm_platform.common.errors import ConfigurationError

if TYPE_CHECKING:
    from llm_platform.config.environment import EnvironmentConfig
    from llm_platform.config.schema import ModelConfig
    from llm_platform.promotion.gate import GateItem
    from llm_platform.targets.base import Runtime
    from llm_platform.targets.local.local import LocalRuntime
    from llm_platform.targets.registry import TargetOptions

#: Keys the local runtime cannot honour (no node selector, no cgroup limits, no Prometheus
#: namespace, no autoscaler), with why.
IGNORED_KEYS: dict[str, str] = {
    "cluster.gpu_node_selector": "local processes are not scheduled onto nodes",
    "resources.default_limits": "local processes run without resource limits",
    "monitoring.prometheus_namespace": "the embedded Prometheus has no namespace",
    "autoscaling.max_replicas": "the local runtime does not autoscale; it runs min_replicas",
    "kubernetes.workload": "local models run as processes, not Kubernetes workloads",
}


def build_runtime(options: TargetOptions) -> LocalRuntime:
    """Model-server processes behind per-environment gateways, state under ``options.home``.

    Raises:
        ConfigurationError: ``options`` names no home.
    """
    from llm_platform.targets.local.local import LocalRuntime

    if options.home is None:
        raise ConfigurationError("the local target keeps its state under the platform home")
    return LocalRuntime(options.home)


def capacity_item(
    runtime: Runtime,
    env: EnvironmentConfig,
    model: ModelConfig,
    artifact_bytes: int,
    options: TargetOptions,
) -> GateItem:
    """Whether this machine's available memory holds the old and the new servers that run at
    once at the peak of ``env``'s strategy (:meth:`StrategySpec.peak_replicas`)."""
    from llm_platform.common.strategy_names import STRATEGY_SPECS
    from llm_platform.config.applicability import serving_replicas
    from llm_platform.promotion.gate import local_capacity_item

    strategy = STRATEGY_SPECS[env.deployment.strategy]
    replicas = serving_replicas(env.autoscaling)
    return local_capacity_item(
        runtime.capacity(),
        artifact_bytes=artifact_bytes,
        revisions=strategy.peak_replicas(replicas, env.deployment.max_surge),
    )
