"""Registrar resources: run the registration pipeline with kfp.local or on Kubeflow (kfp.Client).

Wire secrets with ``dg.EnvVar`` (``token=dg.EnvVar("KFP_TOKEN")``) so the UI shows the
variable's name, never the token.
"""

from __future__ import annotations

import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from llm_platform.registration import (
    LocalKfpRegistrar,
    Registrar,
    RegistrationResult,
    RemoteKfpRegistrar,
)
from llm_platform.registration.registrars import SCRATCH_DIR
from llm_platform.settings import DEFAULT_MAX_ARTIFACT_BYTES
from resources.artifact_store import ArtifactStoreResource

if TYPE_CHECKING:
    from llm_platform.config import ModelConfig


class RegistrarResource(dg.ConfigurableResource, ABC):
    """Registers a model version into an artifact store."""

    max_artifact_bytes: int = Field(
        default=DEFAULT_MAX_ARTIFACT_BYTES,
        gt=0,
        description="Largest artifact (sum of file sizes) registration accepts "
        "(LLM_PLATFORM_MAX_ARTIFACT_BYTES).",
    )

    @abstractmethod
    def registrar(self, artifact_store: ArtifactStoreResource) -> Registrar:
        """The domain registrar writing into ``artifact_store``."""

    def scratch_root(self) -> Path | None:
        """Where sources are exported before registration (None: the system temp dir)."""
        return None

    @contextmanager
    def scratch_dir(self, prefix: str) -> Iterator[Path]:
        """A temporary directory for an exported source, removed afterwards."""
        with tempfile.TemporaryDirectory(prefix=prefix, dir=self.scratch_root()) as tmp:
            yield Path(tmp)

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
            ArtifactUnsafeError: the security scan refused the artifact (carries the report).
            RegistrationError: another step failed (the message names it).
        """
        return self.registrar(artifact_store).register(
            config=config, models_repo_dir=models_repo_dir, commit_sha=commit_sha, run_id=run_id
        )


class LocalKfpRegistrarResource(RegistrarResource):
    """The registration pipeline run by ``kfp.local`` in subprocesses of this virtualenv."""

    pipeline_root: str
    allowed_source_paths: list[str] = Field(
        default_factory=list,
        description="Host directories an absolute 'local' source may be under "
        "(LLM_PLATFORM_ALLOWED_SOURCE_PATHS, set by the platform operator).",
    )
    keep_runs: int = Field(
        default=0, ge=0, description="Finished run directories kept under pipeline_root."
    )

    def registrar(self, artifact_store: ArtifactStoreResource) -> LocalKfpRegistrar:
        """A :class:`LocalKfpRegistrar` on ``pipeline_root``."""
        return LocalKfpRegistrar(
            Path(self.pipeline_root),
            artifact_store.uri,
            store=artifact_store.store(),
            allowed_source_paths=[Path(p) for p in self.allowed_source_paths],
            max_artifact_bytes=self.max_artifact_bytes,
            keep_runs=self.keep_runs,
        )

    def scratch_root(self) -> Path | None:
        """Under the pipeline root: same filesystem, so the fetch step hard-links the export."""
        path = Path(self.pipeline_root) / SCRATCH_DIR
        path.mkdir(parents=True, exist_ok=True)
        return path


class RemoteKfpRegistrarResource(RegistrarResource):
    """The registration pipeline submitted to a Kubeflow Pipelines API (``kfp.Client``)."""

    endpoint: str
    token: str | None = None
    timeout_s: float = 3600.0
    experiment: str = "llm-platform"
    image: str | None = None
    poll_interval_s: float = Field(default=5.0, gt=0, description="Seconds between run polls.")

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
            poll_interval_s=self.poll_interval_s,
            max_artifact_bytes=self.max_artifact_bytes,
        )
