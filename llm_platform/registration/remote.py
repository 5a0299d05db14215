"""The remote registrar: the compiled pipeline submitted to a Kubeflow Pipelines API (kfp.Client).

When the run fails, the registrar looks in the artifact store for the scan report the scan step
files under this registration's id: present and unsafe means :class:`ArtifactUnsafeError`
(with the report), anything else a plain :class:`RegistrationError` naming the run URL.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llm_platform.artifact_store.registry import ModelRegistry
from llm_platform.artifact_store.store import ObjectStore
from llm_platform.artifact_store.uri import open_store
from llm_platform.registration.outcome import (
    RegistrationError,
    RegistrationResult,
    new_registration_id,
    unsafe_artifact_error,
)
from llm_platform.registration.registrars import Registrar, source_of
from llm_platform.registration.steps import SCAN_REPORT_ATTACHMENT
from llm_platform.settings import DEFAULT_MAX_ARTIFACT_BYTES

if TYPE_CHECKING:
    from llm_platform.config import ModelConfig


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
        max_artifact_bytes: the fetch step refuses artifacts larger than this.
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
        max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._token = token
        self.store_uri = store_uri
        self.timeout_s = timeout_s
        self.experiment = experiment
        self.poll_interval_s = poll_interval_s
        self.image = image
        self._store = store
        self.max_artifact_bytes = max_artifact_bytes

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
        source_type, uri = source_of(config)
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
        registration_id = new_registration_id(run_id)
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
                    "registration_id": registration_id,
                    "max_bytes": self.max_artifact_bytes,
                    "kfp_ui_url": self.endpoint,
                },
                run_name=run_name,
                experiment_name=self.experiment,
                enable_caching=False,
            )
        kfp_run_id = str(submitted.run_id)
        url = self.run_url(kfp_run_id)
        registry = ModelRegistry(self._store or open_store(self.store_uri))
        try:
            self._wait(client, kfp_run_id, url, started)
        except RegistrationError as exc:
            unsafe = unsafe_artifact_error(
                registry, config.name, config.version, registration_id, url
            )
            if unsafe is not None:
                raise unsafe from exc
            raise
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
