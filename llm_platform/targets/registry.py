"""The deployment targets by name: ``LLM_PLATFORM_TARGET`` selects one.

Everything the platform does differently per target is one field of its :class:`TargetSpec`:
how its runtime is built, how the production gate checks capacity, where its Prometheus is
found, which ``config/<env>.yaml`` keys it cannot honour, what the UI tags its deployments
with. Each target's factories live in its own package (``targets/local/target.py``,
``targets/kubernetes/target.py``); every other place reads the spec instead of comparing the
target's name. Adding a target is a new package under ``targets/`` plus one entry here, its
name and ignored keys in :mod:`llm_platform.common.target_names` (which the settings and the
config package read), and its Dagster resources in ``resources/runtime.py`` and
``resources/capacity.py``; each of those tables is checked against this one at import.

The Kubernetes factories import the Kubernetes client only when called: reading this table
never needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from llm_platform.common.errors import ConfigurationError
from llm_platform.common.gate_item import GateItem
from llm_platform.common.target_names import (
    IGNORED_KEYS,
    TARGET_NAMES,
    Target,
    unknown_target_message,
)
from llm_platform.config.environment import EnvironmentConfig
from llm_platform.config.schema import ModelConfig
from llm_platform.targets.base import Runtime
from llm_platform.targets.kubernetes import target as kubernetes
from llm_platform.targets.local import target as local
from llm_platform.targets.options import TargetOptions

#: ``(monitoring namespace, environment, options) -> discover``: a callable that finds the
#: target's own Prometheus when called (it raises ``PrometheusNotConfigured`` when it cannot).
PrometheusDiscovery = Callable[[str, str | None, TargetOptions], Callable[[], str]]
#: ``(runtime, env, model, artifact bytes, options) -> GateItem``: whether a promotion's new
#: replicas fit on the target right now (an unknown answer fails the condition).
CapacityCheck = Callable[[Runtime, EnvironmentConfig, ModelConfig, int, TargetOptions], GateItem]


@dataclass(frozen=True)
class TargetSpec:
    """One deployment target: what the platform does differently there."""

    name: Target
    #: One line for the CLI and the docs.
    summary: str
    #: The Dagster kind tag of what runs a deployment (``python``: local server processes).
    runs_as: str
    build_runtime: Callable[[TargetOptions], Runtime]
    capacity_item: CapacityCheck
    #: None: SLO checks ask the embedded stack's Prometheus (its rule files installed under
    #: ``home``); set: the target's own Prometheus (its rules travel with the manifests).
    discover_prometheus: PrometheusDiscovery | None
    #: ``config/<env>.yaml`` keys this target cannot honour, with why (listed, never dropped;
    #: declared in :data:`llm_platform.common.target_names.IGNORED_KEYS`).
    ignored_keys: Mapping[str, str]

    @property
    def own_prometheus(self) -> bool:
        """Whether the target brings its own Prometheus (found by :attr:`discover_prometheus`)."""
        return self.discover_prometheus is not None


LOCAL = TargetSpec(
    name="local",
    summary="model-server processes on this machine behind a local gateway",
    runs_as="python",
    build_runtime=local.build_runtime,
    capacity_item=local.capacity_item,
    discover_prometheus=None,
    ignored_keys=IGNORED_KEYS["local"],
)
KUBERNETES = TargetSpec(
    name="kubernetes",
    summary="KServe InferenceServices or Deployments on a cluster",
    runs_as="kubernetes",
    build_runtime=kubernetes.build_runtime,
    capacity_item=kubernetes.capacity_item,
    discover_prometheus=kubernetes.discover_prometheus,
    ignored_keys=IGNORED_KEYS["kubernetes"],
)
#: The targets by name.
TARGETS: dict[str, TargetSpec] = {spec.name: spec for spec in (LOCAL, KUBERNETES)}
if tuple(TARGETS) != TARGET_NAMES:
    raise ImportError(
        f"TARGETS implements {list(TARGETS)} but target_names declares {TARGET_NAMES}"
    )


class UnknownTarget(ConfigurationError):
    """A target name that is not in :data:`TARGETS`."""


def target_spec(name: str) -> TargetSpec:
    """The target called ``name``.

    Raises:
        UnknownTarget: there is none (the message lists the targets there are).
    """
    try:
        return TARGETS[name]
    except KeyError:
        raise UnknownTarget(unknown_target_message(name)) from None
