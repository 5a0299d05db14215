"""Registering a model version from a commit: what is registered, and what came of it.

Two steps, so that the repository scan is reported before the (long) pipeline runs:
:func:`scan_model_files` refuses a config without ``source:`` and scans the model's own files
at the commit for leaked secrets (:class:`LeakedSecrets` says why that refuses registration);
:func:`register_model` runs the registrar and returns what came of it -- the artifact
registered and re-hashed in the store (:class:`Registered`), refused by the security scan
(:class:`ArtifactRefused`: nothing was stored) or failed (:class:`RegistrationFailed`: source
refused, too large, git or pipeline failure). A ``local`` source inside the repo is exported
out of the commit itself, never read from a work tree or the host.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_platform.artifact_store.records import RegistryRecord
from llm_platform.artifact_store.registry import ModelRegistry
from llm_platform.common.errors import PlatformError
from llm_platform.common.ui_numbers import MAX_CHECK_DESCRIPTION, round_seconds
from llm_platform.config import ModelConfig, model_config_path
from llm_platform.gitops import GitRepo
from llm_platform.registration.outcome import (
    ArtifactUnsafeError,
    RegistrationError,
    RegistrationResult,
)
from llm_platform.registration.registrars import Registrar
from llm_platform.security.repo_scan import RepoScanReport, scan_model_commit

#: What the UI shows as the run URL of a registration without a KFP UI (kfp.local).
NO_RUN_URL = "(kfp.local: no UI)"
#: At most this many unsafe files are listed in a refused artifact's check.
MAX_LISTED_FILES = 50


class NothingToRegisterError(RegistrationError):
    """The model's config names no ``source:``: there is nothing to register."""


def _int_counts(summary: dict[str, Any]) -> dict[str, int]:
    """The numeric entries of a scan summary (what a check's metadata shows)."""
    return {k: v for k, v in summary.items() if isinstance(v, int)}


def scan_model_files(repo: GitRepo, sha: str, config: ModelConfig) -> RepoScanReport:
    """The secret scan of the model's own files at ``sha`` (``models/<name>/`` and its in-repo
    source path), once its config names a source.

    Raises:
        NothingToRegisterError: the config has no ``source:`` block.
        GitError: the commit does not exist or git failed.
    """
    if config.source is None:
        raise NothingToRegisterError(
            f"{model_config_path(config.name)}: no 'source:' block, nothing to register"
        )
    return scan_model_commit(repo, sha, config.name, config.source)


@dataclass(frozen=True)
class LeakedSecrets:
    """Why a scan with blocking findings refuses registration."""

    findings: int
    files: int
    reason: str

    @classmethod
    def of(cls, report: RepoScanReport, name: str, sha: str) -> LeakedSecrets:
        """The refusal for ``report`` (counts only, never a secret's value)."""
        leaks = report.blocking()
        return cls(
            findings=len(leaks),
            files=len({f.path for f in leaks}),
            reason=f"{name}: {len(leaks)} secret(s) in the model's files at {sha[:12]}: remove "
            "them (and rotate them) or review them in .secrets.baseline",
        )


@dataclass(frozen=True)
class Registered:
    """The artifact was registered (or found registered) and re-hashed in the store."""

    result: RegistrationResult
    #: What does not match when the stored bytes are re-hashed (empty: intact).
    problems: list[str]

    @property
    def record(self) -> RegistryRecord:
        """The registry record: version, digest, files, lineage, scan verdict."""
        return self.result.record

    @property
    def kfp_run_url(self) -> str:
        """The KFP run's page, or what the UI shows when there is none."""
        return self.result.kfp_run_url or NO_RUN_URL

    @property
    def seconds(self) -> float:
        """How long the registration took, rounded for the UI."""
        return round_seconds(self.result.duration_s)

    @property
    def scan_counts(self) -> dict[str, int]:
        """The numeric entries of the scan summary."""
        return _int_counts(self.record.scan_summary)

    @property
    def integrity_problems(self) -> str | None:
        """The integrity problems as one description, or ``None`` when intact."""
        return "; ".join(self.problems)[:MAX_CHECK_DESCRIPTION] if self.problems else None

    @property
    def log_line(self) -> str:
        """One line on what was registered."""
        r = self.record
        return (
            f"registered {r.name} {r.version} digest {r.digest[:12]} "
            f"({len(r.files)} files, {r.total_size} bytes, reused={self.result.reused})"
        )


@dataclass(frozen=True)
class ArtifactRefused:
    """The security scan refused the artifact: nothing was stored."""

    error: ArtifactUnsafeError

    @property
    def description(self) -> str:
        """The refusal, cut to a check description's length."""
        return str(self.error)[:MAX_CHECK_DESCRIPTION]

    @property
    def summary(self) -> dict[str, Any]:
        """The scan report's summary."""
        return self.error.report.summary

    @property
    def scan_counts(self) -> dict[str, int]:
        """The numeric entries of the scan summary."""
        return _int_counts(self.summary)

    @property
    def unsafe_files(self) -> list[dict[str, Any]]:
        """The first unsafe files of the report, as JSON-ready records."""
        bad = self.error.report.bad_files()
        return [f.model_dump(mode="json") for f in bad][:MAX_LISTED_FILES]


@dataclass(frozen=True)
class RegistrationFailed:
    """Registration failed before anything was stored (the error names the step)."""

    error: PlatformError


RegistrationOutcome = Registered | ArtifactRefused | RegistrationFailed


def register_model(
    repo: GitRepo,
    sha: str,
    config: ModelConfig,
    *,
    registrar: Registrar,
    registry: ModelRegistry,
    scratch_dir: Callable[[str], AbstractContextManager[Path]],
    max_artifact_bytes: int,
    run_id: str,
) -> RegistrationOutcome:
    """Register the model ``config`` describes at ``sha`` and re-hash what was stored.

    Args:
        repo: The models repo.
        sha: The commit the config was read at.
        config: The validated config; its ``source`` is registered.
        registrar: Runs the registration pipeline.
        registry: The registry of the artifact store the registrar writes to.
        scratch_dir: Opens a temporary directory (given a name prefix) for the exported source.
        max_artifact_bytes: The largest source exported out of the commit.
        run_id: The orchestrator's run id (names the pipeline run).

    Raises:
        PlatformError: the stored artifact could not be read back.
    """
    with scratch_dir(f"register-{config.name}-") as checkout:
        try:
            source = config.source
            if source is not None and source.type == "local" and not Path(source.uri).is_absolute():
                repo.export(sha, source.uri, checkout, max_bytes=max_artifact_bytes)
            result = registrar.register(
                config=config, models_repo_dir=checkout, commit_sha=sha, run_id=run_id
            )
        except ArtifactUnsafeError as exc:
            return ArtifactRefused(exc)
        except PlatformError as exc:
            return RegistrationFailed(exc)
    return Registered(result, registry.verify_problems(result.record))
