"""The registration pipeline (Kubeflow Pipelines v2 DSL): fetch + hash -> scan -> register.

- ``fetch-and-hash`` puts the source's files into an output ``dsl.Model`` artifact and records
  the manifest (digest, files) in its metadata.
- ``scan-artifact`` runs :func:`llm_platform.security.scan_path` over it, writes the report as
  JSON and SARIF output artifacts, and fails the task when the artifact is unsafe, after
  keeping the report in the artifact store under ``registration_id`` (the verdict as data).
- ``register-artifact`` stores the files content-addressed and writes the registry record last
  (:class:`llm_platform.artifact_store.ModelRegistry`); it returns the outcome as JSON.

Component bodies are self-contained (imports inside) and import ``llm_platform``: locally the
SubprocessRunner runs them in this virtualenv; on a cluster ``image`` must contain this package.
The store is given as a URI (directory or ``s3://bucket/prefix``); S3 endpoint and credentials
come from the standard ``AWS_*`` environment variables of the task, never from parameters.

This module deliberately has no ``from __future__ import annotations``: kfp reads the
component signatures' annotations as real types.
"""

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kfp import compiler, dsl
from kfp.dsl import Artifact, Input, Model, Output

from llm_platform.targets.kubernetes.image import PLATFORM_IMAGE

PIPELINE_NAME = "llm-platform-register-model"
# The image a cluster runs the components in must contain this package: the project's own image
# (deploy/Dockerfile, built by ``make image``). kfp.local ignores it.
DEFAULT_IMAGE = PLATFORM_IMAGE
# What the local SubprocessRunner is told (it runs this interpreter; a python image name keeps
# kfp.local from warning about a "non-Python base image").
LOCAL_IMAGE = "python:3.11"
FETCH_TASK = "fetch-and-hash"
SCAN_TASK = "scan-artifact"
REGISTER_TASK = "register-artifact"


def fetch_and_hash(
    source_type: str,
    source_uri: str,
    digest_cache: str,
    local_roots: str,
    max_bytes: int,
    model: Output[Model],
) -> None:
    """Materialize the model source into ``model`` and record its manifest in the metadata."""
    from pathlib import Path

    from llm_platform.registration.steps import fetch_step, write_failure_note

    dest = Path(model.path)
    try:
        manifest = fetch_step(
            source_type,
            source_uri,
            dest,
            digest_cache,
            local_roots=local_roots,
            max_bytes=max_bytes,
        )
    except Exception as exc:
        write_failure_note(dest.parent, exc)
        raise
    model.metadata["digest"] = manifest.digest
    model.metadata["total_size"] = str(manifest.total_size)
    model.metadata["file_count"] = str(len(manifest.files))
    model.metadata["manifest"] = manifest.model_dump_json()
    model.metadata["source_uri"] = source_uri


def scan_artifact(
    model: Input[Model],
    store_uri: str,
    name: str,
    version: str,
    registration_id: str,
    report: Output[Artifact],
    sarif: Output[Artifact],
) -> None:
    """Scan the artifact; write the JSON and SARIF reports; fail when it is unsafe."""
    import json
    from pathlib import Path

    from llm_platform.registration.steps import scan_step, write_failure_note

    try:
        summary = scan_step(
            Path(model.path),
            Path(report.path),
            Path(sarif.path),
            store_uri=store_uri,
            name=name,
            version=version,
            registration_id=registration_id,
        )
    except Exception as exc:
        write_failure_note(Path(report.path).parent, exc)
        raise
    report.metadata["summary"] = json.dumps(summary, sort_keys=True)


def register_artifact(
    model: Input[Model],
    report: Input[Artifact],
    sarif: Input[Artifact],
    name: str,
    version: str,
    commit_sha: str,
    config_hash: str,
    store_uri: str,
    kfp_run_id: str,
    kfp_ui_url: str,
) -> str:
    """Store the artifact and write its registry record; return the outcome as JSON."""
    from pathlib import Path

    from llm_platform.registration.steps import register_step, write_failure_note

    try:
        return register_step(
            Path(model.path),
            manifest_json=model.metadata["manifest"],
            source_uri=model.metadata["source_uri"],
            report_path=Path(report.path),
            sarif_path=Path(sarif.path),
            name=name,
            version=version,
            commit_sha=commit_sha,
            config_hash=config_hash,
            store_uri=store_uri,
            kfp_run_id=kfp_run_id,
            kfp_ui_url=kfp_ui_url,
        )
    except Exception as exc:
        # The task's own directory is not known here; notes go next to the fetched model's.
        write_failure_note(Path(model.path).parent.parent / "register-artifact", exc)
        raise


@functools.lru_cache(maxsize=8)
def build_pipeline(image: str = DEFAULT_IMAGE) -> Callable[..., Any]:
    """The registration pipeline with its components running on ``image``.

    Args:
        image: container image for a cluster run (must contain ``llm_platform``); the local
            SubprocessRunner ignores it.

    Returns:
        A ``kfp`` pipeline (``GraphComponent``) taking the registration parameters.
    """
    # The image (and locally this virtualenv) already holds kfp: by default every step would
    # first run ``pip install kfp``, a network call at run time that fails on offline clusters.
    component = functools.partial(dsl.component, base_image=image, install_kfp_package=False)
    fetch = component(fetch_and_hash)
    scan = component(scan_artifact)
    register = component(register_artifact)

    @dsl.pipeline(name=PIPELINE_NAME, description="Fetch, hash, scan and register a model.")
    def register_model_pipeline(
        name: str,
        version: str,
        source_type: str,
        source_uri: str,
        commit_sha: str,
        config_hash: str,
        store_uri: str,
        registration_id: str,
        digest_cache: str = "",
        local_roots: str = "",
        max_bytes: int = 0,
        kfp_ui_url: str = "",
    ) -> str:
        fetched = fetch(
            source_type=source_type,
            source_uri=source_uri,
            digest_cache=digest_cache,
            local_roots=local_roots,
            max_bytes=max_bytes,
        )
        fetched.set_caching_options(False)
        scanned = scan(
            model=fetched.outputs["model"],
            store_uri=store_uri,
            name=name,
            version=version,
            registration_id=registration_id,
        )
        scanned.set_caching_options(False)
        registered = register(
            model=fetched.outputs["model"],
            report=scanned.outputs["report"],
            sarif=scanned.outputs["sarif"],
            name=name,
            version=version,
            commit_sha=commit_sha,
            config_hash=config_hash,
            store_uri=store_uri,
            kfp_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            kfp_ui_url=kfp_ui_url,
        )
        registered.set_caching_options(False)
        return registered.output

    return register_model_pipeline


def compile_pipeline(package_path: Path, image: str = DEFAULT_IMAGE) -> Path:
    """Compile the pipeline to KFP IR YAML at ``package_path``.

    Returns:
        ``package_path``.
    """
    compiler.Compiler().compile(build_pipeline(image), package_path=str(package_path))
    return package_path
