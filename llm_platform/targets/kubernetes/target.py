"""The Kubernetes target's entry in :data:`llm_platform.targets.registry.TARGETS`: its runtime
on one cluster per environment, its capacity check on the cluster's nodes and pods, and the
discovery of the cluster's Prometheus.

The Kubernetes client is imported when a factory is called, never when the table is read.
"""

from __future__ import annotations

from collections.abc import Callable

from llm_platform.common.errors import ConfigurationError
from llm_platform.common.gate_item import GateItem
from llm_platform.config.environment import EnvironmentConfig
from llm_platform.config.environments import PIPELINE_ENVIRONMENTS
from llm_platform.config.schema import ModelConfig
from llm_platform.gitops import GitRepo
from llm_platform.targets.base import Runtime
from llm_platform.targets.kubernetes.kubeconfigs import kubeconfig_for
from llm_platform.targets.options import TargetOptions


def own_kubeconfigs(options: TargetOptions) -> dict[str, str]:
    """Environment name -> kubeconfig, for the pipeline's environments that have one."""
    found = {env: kubeconfig_for(env, options.kubeconfigs) for env in PIPELINE_ENVIRONMENTS}
    return {env: path for env, path in found.items() if path}


def build_runtime(options: TargetOptions) -> Runtime:
    """Models on a cluster: KServe InferenceServices or Deployments + Services + HPAs.

    Each environment with a kubeconfig of its own is deployed to that cluster, the others to
    the default one (``options.kubeconfig``, else the pod's service account, else
    ``KUBECONFIG``); namespaces, workloads and limits come from the models repo's branch head.

    Raises:
        ConfigurationError: ``options`` names no models repo.
        KubernetesApiError: no default cluster is configured while some environment needs it.
    """
    from llm_platform.targets.kubernetes.api import KubernetesApiError, api_client
    from llm_platform.targets.kubernetes.apply import Cluster
    from llm_platform.targets.kubernetes.context import GitPlacements
    from llm_platform.targets.kubernetes.runtime import KubernetesRuntime

    if options.models_repo is None:
        raise ConfigurationError("the Kubernetes target reads placements from a models repo")
    repo = GitRepo(
        options.models_repo, branch=options.models_branch, cache_dir=options.git_cache_dir
    )
    env_clusters = {
        env: Cluster(api_client(path), field_manager=options.field_manager)
        for env, path in own_kubeconfigs(options).items()
    }
    try:
        cluster = Cluster(api_client(options.kubeconfig), field_manager=options.field_manager)
    except KubernetesApiError:
        # Every environment has a cluster of its own: no default one is needed.
        if set(env_clusters) != set(PIPELINE_ENVIRONMENTS):
            raise
        cluster = env_clusters[PIPELINE_ENVIRONMENTS[-1]]
    return KubernetesRuntime(cluster, GitPlacements(repo), env_clusters=env_clusters)


def capacity_item(
    runtime: Runtime,
    env: EnvironmentConfig,
    model: ModelConfig,
    artifact_bytes: int,
    options: TargetOptions,
) -> GateItem:
    """:func:`~llm_platform.targets.kubernetes.capacity_source.cluster_capacity_item` on a fresh
    snapshot of ``env``'s cluster (allocatable minus requested on its node pool, per-node GPU
    fit); an unreadable cluster fails the condition (the gate fails closed)."""
    from llm_platform.targets.kubernetes.api import KubernetesApiError, api_client
    from llm_platform.targets.kubernetes.capacity_source import (
        cluster_capacity_item,
        read_cluster,
    )

    kubeconfig = kubeconfig_for(env.environment, options.kubeconfigs, options.kubeconfig)
    try:
        with api_client(kubeconfig) as api:
            snapshot = read_cluster(api)
    except KubernetesApiError as exc:
        return GateItem(name="capacity", ok=False, reason=f"cluster capacity unknown: {exc}")
    return cluster_capacity_item(snapshot, env=env, resources=model.resources)


def discover_prometheus(
    monitoring_namespace: str, env: str | None, options: TargetOptions
) -> Callable[[], str]:
    """Finds the Prometheus Service in ``monitoring_namespace`` of ``env``'s cluster when
    called (:func:`llm_platform.targets.kubernetes.prometheus.cluster_discovery`)."""
    from llm_platform.targets.kubernetes.prometheus import cluster_discovery

    kubeconfig = kubeconfig_for(env, options.kubeconfigs, options.kubeconfig)
    return cluster_discovery(monitoring_namespace, kubeconfig=kubeconfig)
