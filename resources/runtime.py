"""The serving runtime as a Dagster resource (local or Kubernetes target).

Assets and sensors depend on :class:`RuntimeResource` and the target-neutral
:class:`llm_platform.targets.base.Runtime` it returns, so they never branch on the target; the
composition root (``definitions.py``) picks the implementation.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from llm_platform.gitops import GitRepo
from llm_platform.targets.artifacts import ArtifactCache
from llm_platform.targets.base import Runtime
from llm_platform.targets.local.local import LocalRuntime


class RuntimeResource(dg.ConfigurableResource, ABC):
    """The serving target: its :class:`Runtime` (which also resolves artifacts by URI + digest)."""

    #: The platform home (``LLM_PLATFORM_HOME``): local state such as verified artifact copies.
    home: str

    @abstractmethod
    def runtime(self) -> Runtime:
        """The target's runtime."""

    @abstractmethod
    def local_artifact(self, model: str, uri: str, digest: str) -> Path:
        """A verified local copy of an artifact (to inspect its format before deploying).

        Raises:
            ArtifactUnavailable: it cannot be fetched or does not hash to ``digest``.
        """

    def home_path(self) -> Path:
        """The platform home: what every process promoting on this target shares (the
        promotion locks live there)."""
        return Path(getattr(self, "home"))  # noqa: B009 - declared by each target's resource


class LocalRuntimeResource(RuntimeResource):
    """Model-server processes behind per-environment gateways, state under ``home``.

    Deployments outlive the Dagster run that applied them: desired state is kept on disk under
    ``home/runtime`` and the controller started by ``llm-platform stack up`` keeps them running.
    Revisions name their artifact by store URI + digest; the runtime fetches it into
    ``home/artifact-cache/<model>/<digest>`` and serves it only when it hashes to the digest.
    """

    home: str

    _runtime: LocalRuntime | None = PrivateAttr(default=None)

    def runtime(self) -> Runtime:
        """The runtime (created on first use, reused afterwards)."""
        return self.local_runtime()

    def local_artifact(self, model: str, uri: str, digest: str) -> Path:
        """The runtime's own cached copy (the one its servers will load)."""
        return self.local_runtime().artifacts.resolve(model, uri, digest)

    def local_runtime(self) -> LocalRuntime:
        """The concrete local runtime (for local-only helpers such as ``fault_file``)."""
        if self._runtime is None:
            self._runtime = LocalRuntime(Path(self.home))
        return self._runtime


class KubernetesRuntimeResource(RuntimeResource):
    """Models on a cluster: KServe InferenceServices or Deployments + Services + HPAs.

    The API server is reached with the pod's service account in a cluster, else the current
    context of ``~/.kube/config`` (or ``KUBECONFIG``); an environment with a kubeconfig of its
    own (``LLM_PLATFORM_KUBECONFIG_<ENV>``) is deployed to that cluster. Each environment's
    namespace, workload and limits come from the models repo's branch head, the model's
    resources from the commit its artifact was registered from. Artifacts are inspected from a
    verified copy under ``home``.
    """

    home: str
    models_repo: str
    models_branch: str = "main"
    git_cache_dir: str | None = None
    field_manager: str = "llm-platform"
    #: ``LLM_PLATFORM_KUBECONFIG_<ENV>`` -> kubeconfig path: environments on clusters of their
    #: own (the others use the pod's service account, else ``KUBECONFIG``).
    kubeconfigs: dict[str, str] = {}

    _runtime: Runtime | None = PrivateAttr(default=None)

    def runtime(self) -> Runtime:
        """The runtime (its API client is configured on first use)."""
        if self._runtime is None:
            from llm_platform.config.environments import PIPELINE_ENVIRONMENTS
            from llm_platform.targets.kubernetes.api import ClusterAccessError, api_client
            from llm_platform.targets.kubernetes.apply import Cluster
            from llm_platform.targets.kubernetes.context import GitPlacements
            from llm_platform.targets.kubernetes.runtime import KubernetesRuntime

            repo = GitRepo(
                self.models_repo,
                branch=self.models_branch,
                cache_dir=Path(self.git_cache_dir) if self.git_cache_dir else None,
            )
            env_clusters = {
                env: Cluster(api_client(path), field_manager=self.field_manager)
                for env, path in self._env_kubeconfigs().items()
            }
            try:
                cluster = Cluster(api_client(), field_manager=self.field_manager)
            except ClusterAccessError:
                # Every environment has a cluster of its own: no default one is needed.
                if set(env_clusters) != set(PIPELINE_ENVIRONMENTS):
                    raise
                cluster = env_clusters[PIPELINE_ENVIRONMENTS[-1]]
            placements = GitPlacements(repo)
            self._runtime = KubernetesRuntime(cluster, placements, env_clusters=env_clusters)
        return self._runtime

    def _env_kubeconfigs(self) -> dict[str, str]:
        """Environment name -> kubeconfig, for the pipeline's environments that have one."""
        from llm_platform.config.environments import PIPELINE_ENVIRONMENTS
        from llm_platform.settings import kubeconfig_for

        found = {env: kubeconfig_for(env, self.kubeconfigs) for env in PIPELINE_ENVIRONMENTS}
        return {env: path for env, path in found.items() if path}

    def local_artifact(self, model: str, uri: str, digest: str) -> Path:
        """A verified copy under ``home/artifact-cache`` (the cluster fetches its own)."""
        return ArtifactCache(Path(self.home) / "artifact-cache").resolve(model, uri, digest)
