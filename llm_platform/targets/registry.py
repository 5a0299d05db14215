"""The deployment targets by name: ``LLM_PLATFORM_TARGET`` selects one.

Everything the platform does differently per target is one field of its :class:`TargetSpec`:
how its runtime is built, how the production gate checks capacity, where its Prometheus is
found, which ``config/<env>.yaml`` keys it cannot honour, what the UI tags its deployments
with. Each target's factories live in its own package (``targets/local/target.py``,
``targets/kubernetes/target.py``); every other place reads the spec instead of comparing the
target's name. Adding a target is a new package under ``targets/`` plus one entry here (and
its Dagster resources in ``resources/runtime.py`` and ``resources/capacity.py``, whose tables
are checked against this one at import).

The factories import their target's heavy modules (the Kubernetes client, the local
controller) only when called, so reading this table is cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from llm_platform.common.errors import ConfigurationError
from llm_platform.targets.kubernetes import target as kubernetes
from llm_platform.targets.local import target as local

if TYPE_CHECKING:
    from llm_platform.config.environment import EnvironmentConfig
    from llm_platform.config.schema import ModelConfig
    from llm_platform.promotion.gate import GateItem
    from llm_platform.targets.base import Runtime

#: The variable naming the target.
TARGET_ENV = "LLM_PLATFORM_TARGET"


@dataclass(frozen=True)
class TargetOptions:
    """What the composition root knows about where the platform runs, for a target's
    factories (each reads the fields it needs)."""

    #: The platform home (``LLM_PLATFORM_HOME``): local state, verified artifact copies.
    home: Path | None = None
    models_repo: str | None = None
    models_branch: str = "main"
    git_cache_dir: Path | None = None
    #: The default cluster's kubeconfig (None: the pod's service account, else ``KUBECONFIG``).
    kubeconfig: str | None = None
    #: ``LLM_PLATFORM_KUBECONFIG_<ENV>`` -> path: environments on clusters of their own.
    kubeconfigs: Mapping[str, str] = field(default_factory=dict)
    #: Server-side apply field manager (owner of the fields the platform sets).
    field_manager: str = "llm-platform"


#: ``(monitoring namespace, environment, options) -> discover``: a callable that finds the
#: target's own Prometheus when called (it raises ``PrometheusNotConfigured`` when it cannot).
PrometheusDiscovery = Callable[[str, "str | None", TargetOptions], Callable[[], str]]
#: ``(runtime, env, model, artifact bytes, options) -> GateItem``: whether a promotion's new
#: replicas fit on the target right now (an unknown answer fails the condition).
CapacityCheck = Callable[
    ["Runtime", "EnvironmentConfig", "ModelConfig", int, TargetOptions], "GateItem"
]


@dataclass(frozen=True)
class TargetSpec:
    """One deployment target: what the platform does differently there."""

    name: str
    #: One line for the CLI and the docs.
    summary: str
    #: The Dagster kind tag of what runs a deployment (``python``: local server processes).
    runs_as: str
    build_runtime: Callable[[TargetOptions], Runtime]
    capacity_item: CapacityCheck
    #: None: SLO checks ask the embedded stack's Prometheus (its rule files installed under
    #: ``home``); set: the target's own Prometheus (its rules travel with the manifests).
    discover_prometheus: PrometheusDiscovery | None
    #: ``config/<env>.yaml`` keys this target cannot honour, with why (listed, never dropped).
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
    ignored_keys=local.IGNORED_KEYS,
)
KUBERNETES = TargetSpec(
    name="kubernetes",
    summary="KServe InferenceServices or Deployments on a cluster",
    runs_as="kubernetes",
    build_runtime=kubernetes.build_runtime,
    capacity_item=kubernetes.capacity_item,
    discover_prometheus=kubernetes.discover_prometheus,
    ignored_keys={},
)
#: The targets by name.
TARGETS: dict[str, TargetSpec] = {spec.name: spec for spec in (LOCAL, KUBERNETES)}
#: The target when ``LLM_PLATFORM_TARGET`` is unset.
DEFAULT_TARGET = LOCAL.name


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
        expected = " or ".join(repr(n) for n in TARGETS)
        raise UnknownTarget(f"{TARGET_ENV}={name!r}: expected {expected}") from None
