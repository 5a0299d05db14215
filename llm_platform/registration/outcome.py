"""What a registration produced, and how it failed, as data shared by both registrars."""

from __future__ import annotations

import json
import re
import uuid

from pydantic import BaseModel

from llm_platform.artifact_store.records import RegistryRecord
from llm_platform.artifact_store.registry import ModelRegistry
from llm_platform.common.errors import PlatformError
from llm_platform.security import ScanReport


class RegistrationError(PlatformError):
    """Registration failed; the message names the failed step (and run URL when remote)."""


class ArtifactUnsafeError(RegistrationError):
    """The security scan refused the artifact: nothing was stored.

    Attributes:
        report: the pipeline's scan report (``safe`` is false; ``bad_files()`` says why).
    """

    def __init__(self, message: str, report: ScanReport) -> None:
        super().__init__(message)
        self.report = report


class RegistrationResult(BaseModel):
    """What a registration produced."""

    record: RegistryRecord
    kfp_run_id: str
    kfp_run_url: str | None
    scan_report_json: str
    duration_s: float
    reused: bool = False


def new_registration_id(run_id: str) -> str:
    """A key-safe id naming one registration attempt (the orchestrator run id + a random part).

    The pipeline files an unsafe artifact's scan report under it, so the registrar finds the
    verdict of exactly this attempt.
    """
    base = re.sub(r"[^A-Za-z0-9._-]", "_", run_id).lstrip("._-")[:64]
    return f"{base or 'run'}-{uuid.uuid4().hex[:12]}"


def unsafe_artifact_error(
    registry: ModelRegistry, name: str, version: str, registration_id: str, where: str
) -> ArtifactUnsafeError | None:
    """The typed error for a run whose scan refused the artifact, or ``None`` when it did not.

    Args:
        registry: the artifact store the pipeline wrote to.
        name: model name.
        version: model version.
        registration_id: the id the pipeline was started with.
        where: the run, as shown to the user (a KFP UI URL or the local run id).
    """
    raw = registry.get_rejection(name, version, registration_id)
    if raw is None:
        return None
    report = ScanReport.model_validate_json(raw)
    if report.safe:
        return None
    bad = ", ".join(f"{f.path} ({f.status})" for f in report.bad_files())
    summary = json.dumps(report.summary, sort_keys=True)
    return ArtifactUnsafeError(
        f"registration of {name} {version}: the security scan refused the artifact ({where}): "
        f"{bad}; scan summary {summary}",
        report,
    )
