"""Registrars: run the registration pipeline locally (kfp.local) or on Kubeflow (kfp.Client).

Both share one interface, :meth:`Registrar.register`, return a :class:`RegistrationResult`
whose record was read back from the artifact store, and report an artifact the security scan
refused as :class:`ArtifactUnsafeError` carrying the pipeline's scan report (read from the
store, where the scan step files it under the registration id). The remote one lives in
:mod:`llm_platform.registration.remote`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from llm_platform.artifact_store.registry import ModelRegistry, RegisterOutcome
from llm_platform.artifact_store.store import ObjectStore
from llm_platform.artifact_store.uri import open_store
from llm_platform.registration.outcome import (
    RegistrationError,
    RegistrationResult,
    new_registration_id,
    unsafe_artifact_error,
)
from llm_platform.registration.sources import SourceError, local_source_path
from llm_platform.registration.steps import ERROR_NOTE, SCAN_REPORT_ATTACHMENT
from llm_platform.settings import DEFAULT_MAX_ARTIFACT_BYTES

if TYPE_CHECKING:
    from llm_platform.config import ModelConfig

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FAILED_TASK = re.compile(r"Inner task failed: '?([A-Za-z0-9_-]+)'?")
_KFP_LOCAL_LOCK = threading.Lock()  # kfp.local.init is process-global state
#: Under the pipeline root: one directory per registration run, and scratch space for exports.
RUNS_DIR = "runs"
SCRATCH_DIR = "scratch"
_FINISHED = ".finished"


def source_of(config: ModelConfig) -> tuple[str, str]:
    """(type, uri) of the config's source.

    Raises:
        RegistrationError: the config has no source.
    """
    if config.source is None:
        raise RegistrationError(
            f"model {config.name}: model.yaml has no 'source': nothing to store"
        )
    return config.source.type, config.source.uri


class Registrar(ABC):
    """Registers a model version: fetch, hash, scan, store, record."""

    @abstractmethod
    def register(
        self, *, config: ModelConfig, models_repo_dir: Path, commit_sha: str, run_id: str
    ) -> RegistrationResult:
        """Register the model that ``config`` describes.

        Args:
            config: the validated model config (name, version, source).
            models_repo_dir: checkout that relative ``local`` sources are resolved against
                (they must stay inside it).
            commit_sha: models-repo commit the config was read at.
            run_id: the orchestrator's run id (names the KFP run).

        Raises:
            ArtifactUnsafeError: the security scan refused the artifact (carries the report).
            RegistrationError: another step failed (missing source, path outside the repo,
                artifact over the size limit, ...).
        """


class LocalKfpRegistrar(Registrar):
    """Runs the pipeline for real with ``kfp.local`` (SubprocessRunner, this virtualenv).

    Args:
        pipeline_root: where kfp.local keeps task outputs: ``runs/<run>/<model>/`` per
            registration (removed when it finishes, except the newest ``keep_runs``), plus
            ``digest-cache.json`` (stat-keyed hashes, makes re-registration cheap).
        store_uri: artifact store (directory or ``s3://bucket/prefix``).
        store: the same store as an object (e.g. built from a dagster-aws client); by default
            opened from ``store_uri``.
        allowed_source_paths: host directories an absolute ``local`` source may be under.
        max_artifact_bytes: refuse artifacts larger than this.
        keep_runs: finished run directories kept for inspection (0: none).
    """

    def __init__(
        self,
        pipeline_root: Path,
        store_uri: str,
        store: ObjectStore | None = None,
        *,
        allowed_source_paths: Sequence[Path] = (),
        max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES,
        keep_runs: int = 0,
    ):
        self.pipeline_root = Path(pipeline_root).absolute()
        self.store_uri = store_uri
        self.registry = ModelRegistry(store or open_store(store_uri))
        self.allowed_source_paths = tuple(Path(p) for p in allowed_source_paths)
        self.max_artifact_bytes = max_artifact_bytes
        self.keep_runs = keep_runs

    def register(
        self, *, config: ModelConfig, models_repo_dir: Path, commit_sha: str, run_id: str
    ) -> RegistrationResult:
        """Run fetch -> scan -> register locally; see :meth:`Registrar.register`."""
        started = time.monotonic()
        source_type, uri = source_of(config)
        roots: list[Path] = []
        if source_type == "local":
            try:
                uri = str(local_source_path(uri, models_repo_dir, self.allowed_source_paths))
            except SourceError as exc:
                raise RegistrationError(f"registration of {config.name}: {exc}") from exc
            roots = [Path(models_repo_dir).resolve(), *self.allowed_source_paths]
        registration_id = new_registration_id(run_id)
        run_root = self.pipeline_root / RUNS_DIR / registration_id / config.name
        run_root.mkdir(parents=True, exist_ok=True)
        try:
            output = self._run(
                config, run_root, registration_id, source_type, uri, roots, commit_sha
            )
        finally:
            (run_root / _FINISHED).touch()
            self._prune_runs()
        result = json.loads(output)
        outcome = RegisterOutcome.model_validate(result["outcome"])
        report = self.registry.get_attachment(outcome.record, SCAN_REPORT_ATTACHMENT)
        return RegistrationResult(
            record=outcome.record,
            kfp_run_id=str(result["kfp_run_id"]),
            kfp_run_url=None,
            scan_report_json=report.decode() if report is not None else "",
            duration_s=time.monotonic() - started,
            reused=outcome.reused,
        )

    def _run(
        self,
        config: ModelConfig,
        run_root: Path,
        registration_id: str,
        source_type: str,
        uri: str,
        roots: list[Path],
        commit_sha: str,
    ) -> str:
        import kfp.local

        from llm_platform.registration.pipeline import LOCAL_IMAGE, build_pipeline

        with _KFP_LOCAL_LOCK:
            kfp.local.init(
                runner=kfp.local.SubprocessRunner(use_venv=False), pipeline_root=str(run_root)
            )
            try:
                task = build_pipeline(LOCAL_IMAGE)(
                    name=config.name,
                    version=config.version,
                    source_type=source_type,
                    source_uri=uri,
                    commit_sha=commit_sha,
                    config_hash=config.config_hash(),
                    store_uri=self.store_uri,
                    registration_id=registration_id,
                    digest_cache=str(self.pipeline_root / "digest-cache.json"),
                    local_roots=os.pathsep.join(str(p) for p in roots),
                    max_bytes=self.max_artifact_bytes,
                )
            except RuntimeError as exc:
                unsafe = unsafe_artifact_error(
                    self.registry,
                    config.name,
                    config.version,
                    registration_id,
                    f"kfp.local run {registration_id}",
                )
                if unsafe is not None:
                    raise unsafe from exc
                raise self._failure(config, run_root, exc) from exc
        return str(task.output)

    def _prune_runs(self) -> None:
        """Remove finished run directories beyond the newest ``keep_runs`` (running ones stay)."""
        runs = self.pipeline_root / RUNS_DIR
        finished = sorted(
            (marker.parent for marker in runs.glob(f"*/*/{_FINISHED}")),
            key=lambda d: (d / _FINISHED).stat().st_mtime_ns,
            reverse=True,
        )
        for model_dir in finished[self.keep_runs :]:
            shutil.rmtree(model_dir, ignore_errors=True)
            try:
                model_dir.parent.rmdir()  # the registration's directory, once empty
            except OSError:
                pass  # another model of the same run is still there

    @staticmethod
    def _failure(config: ModelConfig, run_root: Path, exc: RuntimeError) -> RegistrationError:
        message = _ANSI.sub("", str(exc))
        match = _FAILED_TASK.search(message)
        step = match.group(1) if match else "unknown step"
        notes = sorted(run_root.glob(f"*/{step}/{ERROR_NOTE}"), key=lambda p: p.stat().st_mtime)
        reason = notes[-1].read_text().strip() if notes else message
        return RegistrationError(
            f"registration of {config.name} {config.version}: step '{step}' failed: {reason}"
        )
