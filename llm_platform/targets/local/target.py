"""The local target's factories for :data:`llm_platform.targets.registry.TARGETS`: its runtime
and its capacity check."""

from __future__ import annotations

from llm_platform.common.errors import ConfigurationError
from llm_platform.common.gate_item import GateItem
from llm_platform.common.strategy_names import STRATEGY_SPECS
from llm_platform.config.applicability import serving_replicas
from llm_platform.config.environment import EnvironmentConfig
from llm_platform.config.schema import ModelConfig
from llm_platform.targets.base import CapacityReport, Runtime
from llm_platform.targets.local.local import LocalRuntime
from llm_platform.targets.local.replicas import LOCAL_SERVER_OVERHEAD_BYTES, MIB
from llm_platform.targets.options import TargetOptions


def build_runtime(options: TargetOptions) -> LocalRuntime:
    """Model-server processes behind per-environment gateways, state under ``options.home``.

    Raises:
        ConfigurationError: ``options`` names no home.
    """
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
    strategy = STRATEGY_SPECS[env.deployment.strategy]
    replicas = serving_replicas(env.autoscaling)
    return _memory_item(
        runtime.capacity(),
        artifact_bytes=artifact_bytes,
        revisions=strategy.peak_replicas(replicas, env.deployment.max_surge),
    )


def _memory_item(report: CapacityReport, *, artifact_bytes: int, revisions: int = 2) -> GateItem:
    """Can this machine run ``revisions`` servers of the artifact side by side (blue-green)?

    The configured GPU and memory requests describe a cluster node; the local runtime cannot
    reserve them, so it checks what its own servers really need against available memory.
    """
    need = revisions * (LOCAL_SERVER_OVERHEAD_BYTES + 2 * artifact_bytes)
    avail = report.memory_available_bytes
    detail = (
        f"need {need / MIB:.0f} MiB for {revisions} local servers, "
        f"{avail / MIB:.0f} MiB available; GPUs "
        + ("enforced" if report.gpus_enforced else "not enforced locally")
    )
    return GateItem(name="capacity", ok=avail >= need, reason=detail)
