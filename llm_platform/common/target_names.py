"""The names of the deployment targets (``LLM_PLATFORM_TARGET``) and the environment keys each
cannot honour.

The keys of :data:`llm_platform.targets.registry.TARGETS`, which checks at import that it
implements exactly these. They live in this leaf module because the settings and the config
package read them, and the targets depend on the config package, not the reverse (the same
split as :mod:`llm_platform.common.strategy_names`).
"""

from __future__ import annotations

from typing import Literal, get_args

Target = Literal["local", "kubernetes"]
TARGET_NAMES: tuple[str, ...] = get_args(Target)
#: The variable naming the target.
TARGET_ENV = "LLM_PLATFORM_TARGET"
#: The target when ``LLM_PLATFORM_TARGET`` is unset.
DEFAULT_TARGET: Target = "local"

#: ``config/<env>.yaml`` keys each target cannot honour, with why (listed, never dropped).
IGNORED_KEYS: dict[Target, dict[str, str]] = {
    # No node selector, no cgroup limits, no Prometheus namespace, no autoscaler.
    "local": {
        "cluster.gpu_node_selector": "local processes are not scheduled onto nodes",
        "resources.default_limits": "local processes run without resource limits",
        "monitoring.prometheus_namespace": "the embedded Prometheus has no namespace",
        "autoscaling.max_replicas": "the local runtime does not autoscale; it runs min_replicas",
        "kubernetes.workload": "local models run as processes, not Kubernetes workloads",
    },
    "kubernetes": {},
}
if tuple(IGNORED_KEYS) != TARGET_NAMES:
    raise ImportError(f"IGNORED_KEYS covers {list(IGNORED_KEYS)}, not {TARGET_NAMES}")


def unknown_target_message(name: str) -> str:
    """Why ``name`` is no target: the targets there are."""
    expected = " or ".join(repr(n) for n in TARGET_NAMES)
    return f"{TARGET_ENV}={name!r}: expected {expected}"
