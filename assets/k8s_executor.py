"""Optional executor: every step in its own Kubernetes pod, with per-asset resource requests.

With ``LLM_PLATFORM_EXECUTOR=k8s_job`` (the Helm values set it) each asset step of a run is a
Kubernetes Job of its own (dagster-k8s ``k8s_job_executor``), sized for its work: registration
hashes and scans whole artifacts; the deployments drive load and wait on the cluster. Without
it, steps run in the run's own pod (the default executor).
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from dagster_k8s import k8s_job_executor

from assets.names import (
    MODEL_CONFIG,
    PRODUCTION_DEPLOYMENT,
    REGISTERED_MODEL,
    STAGING_DEPLOYMENT,
)

#: Container resources per asset step (step key = asset name).
STEP_RESOURCES: dict[str, dict[str, dict[str, str]]] = {
    MODEL_CONFIG: {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
    REGISTERED_MODEL: {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
    STAGING_DEPLOYMENT: {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
    PRODUCTION_DEPLOYMENT: {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"memory": "2Gi"},
    },
}


def k8s_executor_config() -> dict[str, Any]:
    """The ``k8s_job_executor`` config: per-step container resources, bounded parallelism."""
    return {
        "max_concurrent": 4,
        "per_step_k8s_config": {
            step: {"container_config": {"resources": resources}}
            for step, resources in STEP_RESOURCES.items()
        },
    }


def k8s_executor() -> dg.ExecutorDefinition:
    """``k8s_job_executor`` configured with :func:`k8s_executor_config`."""
    return k8s_job_executor.configured(k8s_executor_config(), name="llm_platform_k8s_job_executor")
