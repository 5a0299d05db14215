"""The ``registered_model`` asset: a scanned, content-addressed artifact with lineage."""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from assets.names import (
    CHECK_ARTIFACT_INTEGRITY,
    CHECK_REPOSITORY_SCAN,
    CHECK_SECURITY_SCAN,
    LAYER_REGISTRY,
    MODEL_CONFIG,
    OWNERS,
    REGISTERED_MODEL,
    asset_tags,
    check_ui_metadata,
)
from assets.partitions import models_partitions
from assets.run_inputs import model_config_at, validated_config_metadata
from llm_platform.common.errors import PlatformError
from llm_platform.common.ui_numbers import round_seconds
from llm_platform.config import model_config_path
from llm_platform.registration import ArtifactUnsafeError
from llm_platform.reporting.commit_status import Stage, artifact_unsafe, registered, secrets_found
from llm_platform.security.repo_scan import RepoScanReport, check_metadata, scan_model_commit
from resources.artifact_store import ArtifactStoreResource
from resources.git_repo import ModelsRepoResource
from resources.github import CommitStatusResource
from resources.github_stage import reports_commit_status
from resources.registrar import RegistrarResource


def _spec(name: str, description: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name,
        asset=REGISTERED_MODEL,
        blocking=True,
        partitions_def=models_partitions,
        description=description,
        metadata=check_ui_metadata(LAYER_REGISTRY),
    )


def _repository_check(report: RepoScanReport) -> dg.AssetCheckResult:
    meta = check_metadata(report)
    table = str(meta.pop("findings_table"))
    return dg.AssetCheckResult(
        check_name=CHECK_REPOSITORY_SCAN,
        passed=report.safe,
        metadata={**meta, "findings": dg.MetadataValue.md(table)},
    )


@dg.asset(
    name=REGISTERED_MODEL,
    partitions_def=models_partitions,
    deps=[MODEL_CONFIG],
    group_name="registry",
    owners=OWNERS,
    tags=asset_tags(LAYER_REGISTRY),
    kinds={"kubeflow"},  # plus the artifact store's kind, added by the composition root
    check_specs=[
        _spec(
            CHECK_SECURITY_SCAN,
            "Every file of the artifact was scanned: no pickle importing dangerous globals, "
            "every safetensors header parses and its offsets fit the file.",
        ),
        _spec(
            CHECK_REPOSITORY_SCAN,
            "No leaked secret (detect-secrets: AWS keys, private keys, tokens, ...) in the "
            "model's files at the commit (models/<name>/ and its in-repo source path), apart "
            "from findings reviewed in .secrets.baseline; a secret blocks registration.",
        ),
        _spec(
            CHECK_ARTIFACT_INTEGRITY,
            "The bytes in the artifact store re-hash to the registered digest.",
        ),
    ],
)
@reports_commit_status(Stage.registration)
def registered_model(
    context: dg.AssetExecutionContext,
    models_repo: ModelsRepoResource,
    registrar: RegistrarResource,
    artifact_store: ArtifactStoreResource,
    github: CommitStatusResource,
) -> Iterator[dg.AssetCheckResult | dg.MaterializeResult]:
    """The model version registered by the Kubeflow registration pipeline.

    Fetches the source named in the validated config (a ``local`` source is streamed out of the
    commit itself; host paths only under the operator's allow-list), hashes every file, scans
    it, and stores it content-addressed (``<name>/<version>/<digest>/``) with a registry record
    linking commit → config hash → KFP run → artifact URI + digest. Registering the same bytes
    again uploads nothing. An unsafe artifact is never stored: the failed ``security_scan``
    check carries the scan report's summary and unsafe files, from either registrar. A secret
    leaked in the model's files fails ``repository_scan`` before anything is fetched.
    """
    name = context.partition_key
    meta = validated_config_metadata(context, name)
    sha = str(meta["commit_sha"])
    github.start(context, Stage.registration, name, sha)
    repo = models_repo.repo()
    config = model_config_at(repo, sha, name)
    if config.source is None:
        raise dg.Failure(
            description=f"{model_config_path(name)}: no 'source:' block, nothing to register"
        )
    secrets = scan_model_commit(repo, sha, name, config.source)
    yield _repository_check(secrets)
    if not secrets.safe:
        leaks = secrets.blocking()
        github.report(context, secrets_found(name, len(leaks), len({f.path for f in leaks})))
        raise dg.Failure(
            description=f"{name}: {len(secrets.blocking())} secret(s) in the model's files at "
            f"{sha[:12]}: remove them (and rotate them) or review them in .secrets.baseline"
        )
    with registrar.scratch_dir(prefix=f"register-{name}-") as checkout:
        try:
            if config.source.type == "local" and not Path(config.source.uri).is_absolute():
                # The bytes come from the commit, never from a work tree or the host.
                repo.export(
                    sha, config.source.uri, checkout, max_bytes=registrar.max_artifact_bytes
                )
            result = registrar.register(
                artifact_store=artifact_store,
                config=config,
                models_repo_dir=checkout,
                commit_sha=sha,
                run_id=context.run_id,
            )
        except ArtifactUnsafeError as exc:
            github.report(context, artifact_unsafe(name, exc.report.summary))
            yield dg.AssetCheckResult(
                check_name=CHECK_SECURITY_SCAN,
                passed=False,
                description=str(exc)[:2000],
                metadata={
                    **{k: v for k, v in exc.report.summary.items() if isinstance(v, int)},
                    "unsafe_files": dg.MetadataValue.json(
                        [f.model_dump(mode="json") for f in exc.report.bad_files()][:50]
                    ),
                },
            )
            raise dg.Failure(description=str(exc)) from exc
        except PlatformError as exc:  # source refused, too large, git or pipeline failure
            raise dg.Failure(description=str(exc)) from exc
    record = result.record
    problems = artifact_store.registry().verify_problems(record)
    summary = record.scan_summary
    github.report(
        context,
        registered(name, version=record.version, digest=record.digest, files=len(record.files)),
    )
    context.log.info(
        f"registered {name} {record.version} digest {record.digest[:12]} "
        f"({len(record.files)} files, {record.total_size} bytes, reused={result.reused})"
    )
    yield dg.MaterializeResult(
        metadata={
            "version": record.version,
            "digest": record.digest,
            "artifact_uri": dg.MetadataValue.url(record.artifact_uri)
            if record.artifact_uri.startswith(("http", "s3"))
            else record.artifact_uri,
            "total_size_bytes": record.total_size,
            "file_count": len(record.files),
            "commit_sha": record.commit_sha,
            **github.commit_link_metadata(record.commit_sha),
            "config_hash": record.config_hash,
            "kfp_run_id": result.kfp_run_id,
            "kfp_run_url": result.kfp_run_url or "(kfp.local: no UI)",
            "registration_seconds": round_seconds(result.duration_s),
            "reused": result.reused,
            "scan_safe": record.scan_safe,
            "scan_summary": dg.MetadataValue.json(summary),
        },
        data_version=dg.DataVersion(record.digest),
        check_results=[
            dg.AssetCheckResult(
                check_name=CHECK_SECURITY_SCAN,
                passed=bool(record.scan_safe),
                metadata={k: v for k, v in summary.items() if isinstance(v, int)},
            ),
            dg.AssetCheckResult(
                check_name=CHECK_ARTIFACT_INTEGRITY,
                passed=not problems,
                description="; ".join(problems)[:2000] if problems else None,
                metadata={"digest": record.digest, "problem_count": len(problems)},
            ),
        ],
    )
