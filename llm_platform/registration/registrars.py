"""Registrars: run the registration pipeline locally (kfp.local) or on Kubeflow (kfp.Client).

Both share one interface, :meth:`Registrar.register`, and return a
:class:`RegistrationResult` whose record was read back from the artifact store.
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from llm_platform.errors import PlatformError
from llm_platform.registration.sources import local_source_path
from llm_platform.registration.steps import ERROR_NOTE, SCAN_REPORT_ATTACHMENT
from llm_platform.registry.records import RegistryRecord
from llm_platform.registry.registry import ModelRegistry, RegisterOutcome
from llm_platform.registry.store import ObjectStore
from llm_platform.registry.uri import open_store

if TYPE_CHECKING:
    from llm_platform.config import ModelConfig

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FAILED_TASK = re.compile(r"Inner task failed: '?([A-Za-z0-9_-]+)'?")
_KFP_LOCAL_LOCK = threading.Lock()  # kfp.local.init is process-global state


class RegistrationError(PlatformError):
    """Registration failed; the message names the failed step (and run URL when remote)."""


class RegistrationResult(BaseModel):
    """What a registration produced."""

    record: RegistryRecord
    kfp_run_id: str
    kfp_run_url: str | None
    scan_report_json: str
    duration_s: float
    reused: bool = False


def _source_of(config: ModelConfig) -> tuple[str, str]:
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
            models_repo_dir: checkout that relative ``local`` sources are resolved against.
            commit_sha: models-repo commit the config was read at.
            run_id: the orchestrator's run id (names the KFP run).

        Raises:
            RegistrationError: a pipeline step failed (unsafe artifact, missing source, ...).
        """


class LocalKfpRegistrar(Registrar):
    """Runs the pipeline for real with ``kfp.local`` (SubprocessRunner, this virtualenv).

    Args:
        pipeline_root: where kfp.local keeps task outputs; one subdirectory per registration,
            plus ``digest-cache.json`` (stat-keyed hashes, makes re-registration cheap).
        store_uri: artifact store (directory or ``s3://bucket/prefix``).
        store: the same store as an object (e.g. built from a dagster-aws client); by default
            opened from ``store_uri``.
    """

    def __init__(self, pipeline_root: Path, store_uri: str, store: ObjectStore | None = None):
        self.pipeline_root = Path(pipeline_root).absolute()
        self.store_uri = store_uri
        self.registry = ModelRegistry(store or open_store(store_uri))

    def register(
        self, *, config: ModelConfig, models_repo_dir: Path, commit_sha: str, run_id: str
    ) -> RegistrationResult:
        """Run fetch -> scan -> register locally; see :meth:`Registrar.register`."""
        import kfp.local

        from llm_platform.registration.pipeline import LOCAL_IMAGE, build_pipeline

        started = time.monotonic()
        source_type, uri = _source_of(config)
        if source_type == "local":
            uri = str(local_source_path(uri, models_repo_dir))
        run_root = self.pipeline_root / re.sub(r"[^A-Za-z0-9_.-]", "_", run_id) / config.name
        run_root.mkdir(parents=True, exist_ok=True)
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
                    digest_cache=str(self.pipeline_root / "digest-cache.json"),
                )
            except RuntimeError as exc:
                raise self._failure(config, run_root, exc) from exc
        result = json.loads(task.output)
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

    @staticmethod
    def _failure(config: ModelConfig, run_root: Path, exc: RuntimeError) -> RegistrationError:
        message = _ANSI.sub("", str(exc))
        match = _FAILED_TASK.search(message)
        step = match.group(1) if match else "unknown step"
        notes = sorted(run_root.glob(f"*/{step}/{ERROR_NOTE}"), key=lambda p: p.stat().st_mtime)
        reason = notes[-1].read_text().strip() if notes else message
        what = "security scan failed (unsafe artifact)" if step == "scan-artifact" else "failed"
        return RegistrationError(
            f"registration of {config.name} {config.version}: step '{step}' {what}: {reason}"
        )


class RemoteKfpRegistrar(Registrar):
    """Submits the compiled pipeline to a Kubeflow Pipelines API server and waits for it.

    Args:
        endpoint: KFP API/UI base URL (``https://kfp.example.com``).
        token: bearer token, or ``None``; never logged or put into errors.
        store_uri: artifact store the pipeline writes to (the tasks read ``AWS_*`` env vars).
        timeout_s: how long to wait for the run to finish.
        experiment: KFP experiment name.
        poll_interval_s: seconds between run status polls.
        image: container image of the components (must contain ``llm_platform``); default
            :data:`llm_platform.registration.pipeline.DEFAULT_IMAGE`.
        store: the same store as an object, to read the record back; default: from store_uri.
    """

    def __init__(
        self,
        endpoint: str,
        token: str | None,
        store_uri: str,
        timeout_s: float = 3600.0,
        experiment: str = "llm-platform",
        *,
        poll_interval_s: float = 5.0,
        image: str | None = None,
        store: ObjectStore | None = None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._token = token
        self.store_uri = store_uri
        self.timeout_s = timeout_s
        self.experiment = experiment
        self.poll_interval_s = poll_interval_s
        self.image = image
        self._store = store

    def __repr__(self) -> str:
        return f"RemoteKfpRegistrar(endpoint={self.endpoint!r}, store_uri={self.store_uri!r})"

    def run_url(self, run_id: str) -> str:
        """The KFP UI URL of a run."""
        return f"{self.endpoint}/#/runs/details/{run_id}"

    def _client(self) -> Any:
        import kfp

        return kfp.Client(host=self.endpoint, existing_token=self._token)

    def register(
        self, *, config: ModelConfig, models_repo_dir: Path, commit_sha: str, run_id: str
    ) -> RegistrationResult:
        """Compile, submit, poll to completion, read the record; see :meth:`Registrar.register`."""
        started = time.monotonic()
        source_type, uri = _source_of(config)
        if not self.store_uri.startswith("s3://"):
            raise RegistrationError(
                f"artifact store {self.store_uri!r} is not reachable from a Kubeflow run: "
                "a remote registrar needs an s3:// artifact store"
            )
        if source_type == "local":
            raise RegistrationError(
                f"model {config.name}: a 'local' source ({uri}) cannot be fetched by a remote "
                "Kubeflow run; use an s3:// or huggingface source"
            )
        from llm_platform.registration.pipeline import compile_pipeline

        client = self._client()
        run_name = f"register-{config.name}-{config.version}-{run_id}"
        with tempfile.TemporaryDirectory(prefix="llm-platform-kfp-") as tmp:
            package = Path(tmp) / "register-model.yaml"
            if self.image is None:
                compile_pipeline(package)
            else:
                compile_pipeline(package, self.image)
            submitted = client.create_run_from_pipeline_package(
                str(package),
                arguments={
                    "name": config.name,
                    "version": config.version,
                    "source_type": source_type,
                    "source_uri": uri,
                    "commit_sha": commit_sha,
                    "config_hash": config.config_hash(),
                    "store_uri": self.store_uri,
                    "kfp_ui_url": self.endpoint,
                },
                run_name=run_name,
                experiment_name=self.experiment,
                enable_caching=False,
            )
        kfp_run_id = str(submitted.run_id)
        url = self.run_url(kfp_run_id)
        self._wait(client, kfp_run_id, url, started)
        registry = ModelRegistry(self._store or open_store(self.store_uri))
        record = registry.get_record(config.name, config.version)
        if record is None:
            raise RegistrationError(
                f"KFP run {url} succeeded but no record for {config.name} {config.version} "
                f"exists in {registry.store.uri}"
            )
        report = registry.get_attachment(record, SCAN_REPORT_ATTACHMENT)
        return RegistrationResult(
            record=record,
            kfp_run_id=kfp_run_id,
            kfp_run_url=url,
            scan_report_json=report.decode() if report is not None else "",
            duration_s=time.monotonic() - started,
            reused=record.kfp_run_id != kfp_run_id,
        )

    def _wait(self, client: Any, run_id: str, url: str, started: float) -> None:
        while True:
            run = client.get_run(run_id)
            state = str(getattr(run, "state", None) or "PENDING").upper()
            if state == "SUCCEEDED":
                return
            if state in ("FAILED", "ERROR", "SKIPPED", "CANCELED", "CANCELING"):
                error = getattr(run, "error", None)
                detail = f" ({getattr(error, 'message', None) or error})" if error else ""
                raise RegistrationError(f"KFP run {run_id} ended {state}{detail}: {url}")
            if time.monotonic() - started > self.timeout_s:
                raise RegistrationError(
                    f"KFP run {run_id} still {state} after {self.timeout_s:.0f}s: {url}"
                )
            time.sleep(self.poll_interval_s)
