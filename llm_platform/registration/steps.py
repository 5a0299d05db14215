"""The work of each registration pipeline step, as plain functions (the kfp components are thin).

kfp.local reports a failed task only as "task failed"; each step therefore leaves a short
``error.txt`` note in its task directory before re-raising, which
:class:`~llm_platform.registration.registrars.LocalKfpRegistrar` puts into its error message.
Outcomes the caller acts on travel as data, not text: an unsafe artifact's scan report is
written to the artifact store under the registration id
(:meth:`~llm_platform.artifact_store.registry.ModelRegistry.record_rejection`), where either
registrar reads it back after the run failed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from llm_platform.artifact_store.digest_cache import DigestCache
from llm_platform.artifact_store.registry import ModelRegistry
from llm_platform.artifact_store.uri import open_store
from llm_platform.common.digest import ArtifactManifest, digest_directory
from llm_platform.common.errors import PlatformError
from llm_platform.registration.sources import materialize_source

ERROR_NOTE = "error.txt"
SCAN_REPORT_ATTACHMENT = "scan-report.json"
SCAN_SARIF_ATTACHMENT = "scan-report.sarif"


class UnsafeArtifactError(PlatformError):
    """The security scan found the artifact unsafe; registration must stop."""


def write_failure_note(task_dir: Path, exc: BaseException) -> None:
    """Leave ``<task_dir>/error.txt`` describing ``exc`` (best effort: the caller re-raises)."""
    try:
        task_dir.mkdir(parents=True, exist_ok=True)
        (task_dir / ERROR_NOTE).write_text(f"{type(exc).__name__}: {exc}")
    except OSError:
        pass  # the original exception is re-raised by the caller; the note is a convenience


def fetch_step(
    source_type: str,
    source_uri: str,
    dest: Path,
    digest_cache: str,
    *,
    local_roots: str = "",
    max_bytes: int = 0,
) -> ArtifactManifest:
    """Materialize the source into ``dest`` and hash it.

    Args:
        source_type: ``local`` (absolute path), ``s3`` or ``huggingface``.
        source_uri: the source.
        dest: the output directory (the ``dsl.Model`` artifact path).
        digest_cache: path of a :class:`DigestCache` JSON file, or ``""`` for none.
        local_roots: ``os.pathsep``-separated directories a ``local`` path must be under (the
            models-repo checkout and the operator's allow-list); checked again here.
        max_bytes: refuse a source larger than this (0: no limit).

    Returns:
        The artifact's manifest.
    """
    roots = [Path(p) for p in local_roots.split(os.pathsep) if p]
    materialize_source(
        source_type, source_uri, dest, allowed_roots=roots, max_bytes=max_bytes or None
    )
    if not digest_cache:
        return digest_directory(dest)
    cache = DigestCache(Path(digest_cache))
    manifest = cache.digest_directory(dest)
    cache.save()
    return manifest


def scan_step(
    artifact_dir: Path,
    report_path: Path,
    sarif_path: Path,
    *,
    store_uri: str = "",
    name: str = "",
    version: str = "",
    registration_id: str = "",
) -> dict[str, int]:
    """Scan the artifact and write the JSON and SARIF reports.

    When the artifact is unsafe and ``store_uri`` is given, the JSON report is also kept in
    the artifact store under ``registration_id`` so the registrar can read the verdict.

    Returns:
        The scan summary.

    Raises:
        UnsafeArtifactError: the artifact is unsafe (the reports are written first).
    """
    from llm_platform.security import scan_path

    result = scan_path(artifact_dir)
    report_json = result.to_json()
    report_path.write_text(report_json)
    sarif = result.to_sarif()
    sarif_path.write_text(sarif if isinstance(sarif, str) else json.dumps(sarif, indent=2))
    if not result.safe:
        if store_uri:
            ModelRegistry(open_store(store_uri)).record_rejection(
                name, version, registration_id, report_json.encode()
            )
        bad = ", ".join(f"{f.path} ({f.status})" for f in result.bad_files())
        raise UnsafeArtifactError(
            f"unsafe artifact: {bad}; scan summary {json.dumps(result.summary, sort_keys=True)}"
        )
    return dict(result.summary)


def register_step(
    artifact_dir: Path,
    *,
    manifest_json: str,
    source_uri: str,
    report_path: Path,
    sarif_path: Path,
    name: str,
    version: str,
    commit_sha: str,
    config_hash: str,
    store_uri: str,
    kfp_run_id: str,
    kfp_ui_url: str,
) -> str:
    """Store the artifact and its scan reports, then the record.

    Returns:
        JSON ``{"kfp_run_id": ..., "outcome": RegisterOutcome}``.
    """
    report_bytes = report_path.read_bytes()
    scan = json.loads(report_bytes)
    run_url = f"{kfp_ui_url.rstrip('/')}/#/runs/details/{kfp_run_id}" if kfp_ui_url else None
    outcome = ModelRegistry(open_store(store_uri)).register(
        artifact_dir,
        name=name,
        version=version,
        source_uri=source_uri,
        commit_sha=commit_sha,
        config_hash=config_hash,
        kfp_run_id=kfp_run_id,
        kfp_run_url=run_url,
        scan_summary=scan["summary"],
        scan_safe=bool(scan["safe"]),
        manifest=ArtifactManifest.model_validate_json(manifest_json),
        attachments={
            SCAN_REPORT_ATTACHMENT: report_bytes,
            SCAN_SARIF_ATTACHMENT: sarif_path.read_bytes(),
        },
    )
    return json.dumps({"kfp_run_id": kfp_run_id, "outcome": outcome.model_dump(mode="json")})
