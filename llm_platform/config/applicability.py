"""Which environment keys take effect on which target: no key is silently dropped.

On the local target every key of ``config/<env>.yaml`` either changes what runs (strategy,
surge/unavailable, canary percentage, ``autoscaling.min_replicas``/``enabled``, SLOs,
approvals) or is listed here as applying on the Kubernetes target only. ``llm-platform
validate`` and the ``model_config`` asset report the cluster-only keys with their values.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from llm_platform.config.environment import Autoscaling, EnvironmentConfig

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


class KeyApplicability(BaseModel):
    """One configured key that does not take effect on the local target."""

    env: str
    key: str
    value: object
    applies_on: str = KUBERNETES
    reason: str = Field(description="why it does not take effect locally")

    def __str__(self) -> str:
        where = f"applies on the {self.applies_on} target"
        return f"{self.env}: {self.key} = {self.value!r} {where} ({self.reason})"


def cluster_only_settings(config: EnvironmentConfig) -> list[KeyApplicability]:
    """Every cluster-only key of ``config`` with its (possibly default) value."""
    data = config.model_dump(mode="json")
    out = []
    for key, reason in CLUSTER_ONLY_KEYS.items():
        value: object = data
        for part in key.split("."):
            value = value[part] if isinstance(value, dict) else None
        out.append(KeyApplicability(env=config.environment, key=key, value=value, reason=reason))
    return out


def serving_replicas(autoscaling: Autoscaling) -> int:
    """Servers per revision the runtime keeps: ``min_replicas``, or 1 when autoscaling is off."""
    return autoscaling.min_replicas if autoscaling.enabled else 1
