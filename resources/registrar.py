"""Registrar resources: run the registration pipeline with kfp.local or on Kubeflow (kfp.Client).

Wire secrets with ``dg.EnvVar`` (``token=dg.EnvVar("KFP_TOKEN")``) so the UI shows the
variable's name, never the token.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from llm_platform.registration import (
    LocalKfpRegistrar,
    Registrar,
    RegistrationResult,
    RemoteKfpRegistrar,
)
from resources.artifact_store import ArtifactStoreResource

if TYPE_CHECKING:
    from llm_platform.config import ModelConfig


class RegistrarResource(dg.ConfigurableResource, ABC):
    """Registers a model version into an artifact store."""

    @abstractmethod
    def registrar(self, artifact_store: ArtifactStoreResource) -> Registrar:
        """The domain registrar writing into ``artifact_store``."""

    def register(
        self,
        *,
        artifact_store: ArtifactStoreResource,
        config: ModelConfig,
        models_repo_dir: Path,
        commit_sha: str,
        run_id: str,
    ) -> RegistrationResult:
        """Fetch, hash, scan and store the model; see ``Registrar.register``.

        Raises:
            RegistrationError: a step failed (the message names it).
        """
        return self.registrar(artifact_store).register(
            config=config, models_repo_dir=models_repo_dir, commit_sha=commit_sha, run_id=run_id
        )


class LocalKfpRegistrarResource(RegistrarResource):
    """The registration pipeline run by ``kfp.local`` in subprocesses of this virtualenv."""

    pipeline_root: str

    def registrar(self, artifact_store: ArtifactStoreResource) -> Registrar:
        """A :class:`LocalKfpRegistrar` on ``pipeline_root``."""
        return LocalKfpRegistrar(
            Path(self.pipeline_root), artifact_store.uri, store=artifact_store.store()
        )


class RemoteKfpRegistrarResource(RegistrarResource):
    """The registration pipeline submitted to a Kubeflow Pipelines API (``kfp.Client``)."""

    endpoint: str
    token: str | None = None
    timeout_s: float = 3600.0
    experiment: str = "llm-platform"
    image: str | None = None

    def registrar(self, artifact_store: ArtifactStoreResource) -> Registrar:
        """A :class:`RemoteKfpRegistrar` writing into ``artifact_store``."""
        return RemoteKfpRegistrar(
            self.endpoint,
            self.token,
            artifact_store.uri,
            self.timeout_s,
            self.experiment,
            image=self.image,
            store=artifact_store.store(),
        )
