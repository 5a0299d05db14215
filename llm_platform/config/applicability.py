"""Which environment keys take effect on which target: no key is silently dropped.

On the local target every key of ``config/<env>.yaml`` either changes what runs (strategy,
surge/unavailable, canary percentage, ``autoscaling.min_replicas``/``enabled``, SLOs,
approvals) or is listed here as applying on the Kubernetes target only. The rollout keys that
``config/staging.yaml`` sets apply to production only (staging replaces its revision in one
step). ``llm-platform validate`` and the ``model_config`` asset report them with their values.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from llm_platform.config.environment import Autoscaling, EnvironmentConfig
from llm_platform.config.environments import PRODUCTION, STAGING

KUBERNETES = "kubernetes"

#: Keys the local runtime cannot honour (no node selector, no cgroup limits, no Prometheus
#: namespace, no autoscaler), with why.
CLUSTER_ONLY_KEYS: dict[str, str] = {
    "cluster.gpu_node_selector": "local processes are not scheduled onto nodes",
    "resources.default_limits": "local processes run without resource limits",
    "monitoring.prometheus_namespace": "the embedded Prometheus has no namespace",
    "autoscaling.max_replicas": "the local runtime does not autoscale; it runs min_replicas",
    "kubernetes.workload": "local models run as processes, not Kubernetes workloads",
}


#: Keys of ``config/staging.yaml`` that only a promotion uses: staging replaces its revision
#: with the candidate in one step, on every target (production rolls out with them).
PRODUCTION_ONLY_KEYS: dict[str, str] = {
    "deployment.strategy": "staging replaces its revision with the candidate in one step",
    "deployment.max_surge": "staging replaces its revision with the candidate in one step",
    "deployment.max_unavailable": "staging replaces its revision with the candidate in one step",
    "deployment.canary_percentage": "staging sends the candidate all of its traffic",
    "deployment.approval_required": "every registered candidate is staged; approval gates "
    "promotion",
}


class KeyApplicability(BaseModel):
    """One configured key that does not take effect where it is written (on the local
    target, or in staging)."""

    env: str
    key: str
    value: object
    applies_on: str = KUBERNETES
    reason: str = Field(description="why it does not take effect")

    def __str__(self) -> str:
        if self.applies_on == PRODUCTION:
            where = "applies to production only"
        else:
            where = f"applies on the {self.applies_on} target"
        return f"{self.env}: {self.key} = {self.value!r} {where} ({self.reason})"


def _settings(
    config: EnvironmentConfig, keys: dict[str, str], applies_on: str, *, only_set: bool = False
) -> list[KeyApplicability]:
    data = config.model_dump(mode="json", exclude_unset=only_set)
    out = []
    for key, reason in keys.items():
        value: object = data
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if only_set and value is None:
            continue
        out.append(
            KeyApplicability(
                env=config.environment, key=key, value=value, applies_on=applies_on, reason=reason
            )
        )
    return out


def cluster_only_settings(config: EnvironmentConfig) -> list[KeyApplicability]:
    """Every cluster-only key of ``config`` with its (possibly default) value; for staging,
    also the production-only keys it sets (:data:`PRODUCTION_ONLY_KEYS`)."""
    out = _settings(config, CLUSTER_ONLY_KEYS, KUBERNETES)
    if config.environment == STAGING:
        out += _settings(config, PRODUCTION_ONLY_KEYS, PRODUCTION, only_set=True)
    return out


def serving_replicas(autoscaling: Autoscaling) -> int:
    """Servers per revision the runtime keeps: ``min_replicas``, or 1 when autoscaling is off."""
    return autoscaling.min_replicas if autoscaling.enabled else 1
