"""The serving runtime as a Dagster resource, one per target.

Assets and sensors depend on :class:`RuntimeResource` and the target-neutral
:class:`llm_platform.targets.base.Runtime` it returns, so they never branch on the target; the
composition root (``definitions.py``) picks the resource of the configured target from
:data:`RUNTIME_RESOURCES`. Each resource only holds its configuration: the runtime is built by
its target's factory in :data:`llm_platform.targets.registry.TARGETS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import dagster as dg
from pydantic import PrivateAttr

from llm_platform.common.repo_layout import DEFAULT_BRANCH
from llm_platform.settings import Settings
from llm_platform.targets.artifacts import ArtifactCache
from llm_platform.targets.base import Runtime
from llm_platform.targets.local import target as local_target
from llm_platform.targets.local.local import LocalRuntime
from llm_platform.targets.options import TargetOptions
from llm_platform.targets.registry import KUBERNETES, LOCAL, TARGETS, TargetSpec


class RuntimeResource(dg.ConfigurableResource, ABC):
    """The serving target: its :class:`Runtime` (which also resolves artifacts by URI + digest)."""

    #: The target this resource serves.
    target: ClassVar[TargetSpec]
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

    @classmethod
    @abstractmethod
    def for_settings(cls, settings: Settings) -> RuntimeResource:
        """The resource configured from the platform settings."""


class LocalRuntimeResource(RuntimeResource):
    """Model-server processes behind per-environment gateways, state under ``home``.

    Deployments outlive the Dagster run that applied them: desired state is kept on disk under
    ``home/runtime`` and the controller started by ``llm-platform stack up`` keeps them running.
    Revisions name their artifact by store URI + digest; the runtime fetches it into
    ``home/artifact-cache/<model>/<digest>`` and serves it only when it hashes to the digest.
    """

    target: ClassVar[TargetSpec] = LOCAL
    home: str

    _runtime: LocalRuntime | None = PrivateAttr(default=None)

    @classmethod
    def for_settings(cls, settings: Settings) -> LocalRuntimeResource:
        """State under the platform home."""
        return cls(home=str(settings.home))

    def runtime(self) -> Runtime:
        """The runtime (created on first use, reused afterwards)."""
        return self.local_runtime()

    def local_artifact(self, model: str, uri: str, digest: str) -> Path:
        """The runtime's own cached copy (the one its servers will load)."""
        return self.local_runtime().artifacts.resolve(model, uri, digest)

    def local_runtime(self) -> LocalRuntime:
        """The concrete local runtime (for local-only helpers such as ``fault_file``)."""
        if self._runtime is None:
            self._runtime = local_target.build_runtime(TargetOptions(home=Path(self.home)))
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

    target: ClassVar[TargetSpec] = KUBERNETES
    home: str
    models_repo: str
    models_branch: str = DEFAULT_BRANCH
    git_cache_dir: str | None = None
    field_manager: str = "llm-platform"
    #: ``LLM_PLATFORM_KUBECONFIG_<ENV>`` -> kubeconfig path: environments on clusters of their
    #: own (the others use the pod's service account, else ``KUBECONFIG``).
    kubeconfigs: dict[str, str] = {}

    _runtime: Runtime | None = PrivateAttr(default=None)

    @classmethod
    def for_settings(cls, settings: Settings) -> KubernetesRuntimeResource:
        """The settings' models repo and per-environment kubeconfigs."""
        return cls(
            home=str(settings.home),
            models_repo=settings.models_repo,
            models_branch=settings.models_branch,
            git_cache_dir=str(settings.git_cache_dir),
            kubeconfigs=settings.kubeconfigs,
        )

    def runtime(self) -> Runtime:
        """The runtime (its API clients are configured on first use)."""
        if self._runtime is None:
            self._runtime = self.target.build_runtime(
                TargetOptions(
                    home=Path(self.home),
                    models_repo=self.models_repo,
                    models_branch=self.models_branch,
                    git_cache_dir=Path(self.git_cache_dir) if self.git_cache_dir else None,
                    kubeconfigs=self.kubeconfigs,
                    field_manager=self.field_manager,
                )
            )
        return self._runtime

    def local_artifact(self, model: str, uri: str, digest: str) -> Path:
        """A verified copy under ``home/artifact-cache`` (the cluster fetches its own)."""
        return ArtifactCache(Path(self.home) / "artifact-cache").resolve(model, uri, digest)


#: The runtime resource of each target, by target name.
RUNTIME_RESOURCES: dict[str, type[RuntimeResource]] = {
    cls.target.name: cls for cls in (LocalRuntimeResource, KubernetesRuntimeResource)
}
if set(RUNTIME_RESOURCES) != set(TARGETS):
    raise ImportError(
        f"RUNTIME_RESOURCES covers {sorted(RUNTIME_RESOURCES)}, not {sorted(TARGETS)}"
    )
