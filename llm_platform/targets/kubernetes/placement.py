"""Where and how big a model's pods are: the environment's and the model's cluster settings.

The runtime interface carries revisions only (digest, engine, weights); everything else a
manifest needs comes from ``config/<env>.yaml`` and ``models/<name>/model.yaml`` at the commit
being deployed, gathered here once so rendering stays a pure function.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llm_platform.config.environment import EnvironmentConfig, Workload
from llm_platform.config.schema import IntOrPercent, ModelConfig
from llm_platform.config.slo_rules_source import rules_for

GIB = 1024**3


class Placement(BaseModel):
    """The cluster settings of one model in one environment."""

    model_config = ConfigDict(frozen=True)

    namespace: str
    workload: Workload
    node_selector: dict[str, str] = Field(default_factory=dict)
    memory_gb: float = Field(ge=1)
    gpu_count: int = Field(ge=0)
    memory_multiplier: float = Field(default=1.0, gt=0)
    gpu_multiplier: float = Field(default=1.0, gt=0)
    autoscaling_enabled: bool = False
    min_replicas: int = Field(default=1, ge=1)
    max_replicas: int = Field(default=1, ge=1)
    max_surge: IntOrPercent = 1
    max_unavailable: IntOrPercent = 0
    commit: str | None = Field(default=None, description="models-repo commit of the config")
    slo_rules: list[dict[str, Any]] = Field(
        default_factory=list,
        description="the model's SLO rule groups (rendered as a PrometheusRule)",
    )

    @classmethod
    def from_configs(
        cls, env: EnvironmentConfig, model: ModelConfig, *, commit: str | None
    ) -> Placement:
        """The placement of ``model`` in ``env`` (the config at ``commit``)."""
        limits = env.resources.default_limits
        return cls(
            namespace=env.namespace,
            workload=env.kubernetes.workload,
            node_selector=dict(env.cluster.gpu_node_selector),
            memory_gb=model.resources.memory_gb,
            gpu_count=model.resources.gpu_count,
            memory_multiplier=limits.memory_multiplier,
            gpu_multiplier=limits.gpu_multiplier,
            autoscaling_enabled=env.autoscaling.enabled,
            min_replicas=env.autoscaling.min_replicas,
            max_replicas=env.autoscaling.max_replicas,
            max_surge=env.deployment.max_surge,
            max_unavailable=env.deployment.max_unavailable,
            commit=commit,
            slo_rules=rules_for(env, {model.name: model}, only=model.name)["groups"],
        )

    @property
    def gpu_limit(self) -> int:
        """``nvidia.com/gpu``: ``gpu_count`` x ``gpu_multiplier``, rounded up (GPUs are whole)."""
        return math.ceil(self.gpu_count * self.gpu_multiplier - 1e-9)

    @property
    def memory_request(self) -> str:
        """The model's ``memory_gb`` as a quantity (what the scheduler must find free); never
        above the limit, which a multiplier below 1 makes smaller."""
        return mebibytes(min(self.memory_gb, self.memory_gb * self.memory_multiplier))

    @property
    def memory_limit(self) -> str:
        """``memory_gb`` x ``memory_multiplier`` as a quantity."""
        return mebibytes(self.memory_gb * self.memory_multiplier)

    def replica_bounds(self) -> tuple[int, int]:
        """(min, max) replicas: the autoscaling bounds, or (1, 1) when autoscaling is off."""
        if not self.autoscaling_enabled:
            return 1, 1
        return self.min_replicas, self.max_replicas


def mebibytes(gib: float) -> str:
    """``gib`` GiB as a whole number of ``Mi`` (rounded up), e.g. 16.5 -> ``16896Mi``."""
    return f"{math.ceil(gib * 1024 - 1e-9)}Mi"
