"""What the Kubernetes runtime reads besides the revisions: placement and artifact lineage.

A revision names its artifact by store URI + digest. The registry keeps the record (file list,
commit) next to the files (``<name>/<version>/<digest>/record.json`` beside ``files/``), so the
runtime finds both from the URI alone; the environment's and model's settings come from the
models repo at that commit (or from a checkout, for ``llm-platform manifests``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from llm_platform.artifact_store import RegistryRecord, StoreError, open_store
from llm_platform.artifact_store.records import RECORD_FILE
from llm_platform.common.repo_layout import environment_config_path
from llm_platform.config import (
    ConfigError,
    EnvironmentConfig,
    load_environment,
    load_model_config,
    model_config_path,
)
from llm_platform.config.at_commit import environment_config_at, model_config_at
from llm_platform.gitops import GitError, GitRepo
from llm_platform.targets.base import InvalidDeploymentSpec, RevisionSpec
from llm_platform.targets.kubernetes.placement import Placement

FILES_SUFFIX = "/files"


class ArtifactLineage(BaseModel):
    """The artifact's file paths (relative to its root) and the commit it was registered at."""

    model_config = ConfigDict(frozen=True)

    files: tuple[str, ...]
    commit: str | None = None


class PlacementSource(Protocol):
    """Where the environment's and model's cluster settings come from."""

    def placement(self, env: str, model: str, commit: str | None) -> Placement:
        """The placement of ``model`` in ``env`` as configured at ``commit``."""
        ...

    def namespace(self, env: str) -> str:
        """The namespace of ``env`` as configured now."""
        ...


def artifact_lineage(rev: RevisionSpec) -> ArtifactLineage:
    """The registry record next to ``rev.artifact_uri`` (else the files listed at the URI).

    Raises:
        InvalidDeploymentSpec: the store cannot be read or holds no files there.
    """
    uri = rev.artifact_uri.rstrip("/")
    try:
        if uri.endswith(FILES_SUFFIX):
            raw = open_store(uri[: -len(FILES_SUFFIX)]).get_bytes(RECORD_FILE)
            if raw is not None:
                record = RegistryRecord.model_validate_json(raw)
                if record.digest == rev.digest:
                    return ArtifactLineage(
                        files=tuple(f.path for f in record.files), commit=record.commit_sha
                    )
        keys = open_store(uri).list_keys("")
    except (StoreError, OSError, ValueError) as exc:
        raise InvalidDeploymentSpec(f"{rev.artifact_uri}: cannot read the artifact: {exc}") from exc
    if not keys:
        raise InvalidDeploymentSpec(f"{rev.artifact_uri}: no artifact files there")
    return ArtifactLineage(files=tuple(sorted(keys)))


class GitPlacements:
    """Settings from the models repo: the environment as configured at the branch head (its
    current policy: namespace, workload, limits), the model as registered (at ``commit``)."""

    def __init__(self, repo: GitRepo) -> None:
        self.repo = repo

    def _environment(self, env: str) -> EnvironmentConfig:
        sha, rel = self.repo.head(), environment_config_path(env)
        try:
            return environment_config_at(self.repo, sha, env)
        except (GitError, ConfigError) as exc:
            raise InvalidDeploymentSpec(f"{rel} at {sha[:12]}: {exc}") from exc

    def placement(self, env: str, model: str, commit: str | None) -> Placement:
        """``config/<env>.yaml`` at the head and the model's ``model.yaml`` at ``commit``.

        Raises:
            InvalidDeploymentSpec: either file is missing or invalid there.
        """
        env_cfg = self._environment(env)
        sha = commit or self.repo.head()
        rel = model_config_path(model)
        try:
            model_cfg = model_config_at(self.repo, sha, model)
        except (GitError, ConfigError) as exc:
            raise InvalidDeploymentSpec(f"{rel} at {sha[:12]}: {exc}") from exc
        return Placement.from_configs(env_cfg, model_cfg, commit=sha)

    def namespace(self, env: str) -> str:
        """``namespace`` of ``config/<env>.yaml`` at the branch head.

        Raises:
            InvalidDeploymentSpec: the file is missing or invalid.
        """
        return self._environment(env).namespace


class CheckoutPlacements:
    """Settings from the files of a models-repo checkout (what ``manifests`` previews)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def placement(self, env: str, model: str, commit: str | None) -> Placement:
        """Read and validate the checkout's environment and model configs.

        Raises:
            ConfigError: either file is missing or invalid.
        """
        env_cfg = load_environment(self.root, env)
        model_cfg = load_model_config(self.root / model_config_path(model), repo_root=self.root)
        return Placement.from_configs(env_cfg, model_cfg, commit=commit)

    def namespace(self, env: str) -> str:
        """``namespace`` of the checkout's ``config/<env>.yaml``."""
        return load_environment(self.root, env).namespace
