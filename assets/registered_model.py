"""The ``registered_model`` asset: a scanned, content-addressed artifact with lineage."""

from collections.abc import Iterator

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
from llm_platform.promotion.deployment_record import COMMIT_SHA_KEY
from llm_platform.registration.register import (
    ArtifactRefused,
    LeakedSecrets,
    NothingToRegisterError,
    Registered,
    RegistrationFailed,
    register_model,
    scan_model_files,
)
from llm_platform.reporting.commit_status import artifact_unsafe, registered, secrets_found
from llm_platform.reporting.stages import Stage
from llm_platform.security.repo_scan import RepoScanReport, check_metadata
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


def _refused_check(refused: ArtifactRefused) -> dg.AssetCheckResult:
    """The failed ``security_scan`` of an artifact the scan refused: its counts and files."""
    return dg.AssetCheckResult(
        check_name=CHECK_SECURITY_SCAN,
        passed=False,
        description=refused.description,
        metadata={
            **refused.scan_counts,
            "unsafe_files": dg.MetadataValue.json(refused.unsafe_files),
        },
    )


def _materialization(
    outcome: Registered, commit_links: dict[str, dg.MetadataValue]
) -> dg.MaterializeResult:
    """The registered version's lineage and scan as metadata, with its two checks."""
    record, result = outcome.record, outcome.result
    return dg.MaterializeResult(
        metadata={
            "version": record.version,
            "digest": record.digest,
            "artifact_uri": dg.MetadataValue.url(record.artifact_uri)
            if record.artifact_uri.startswith(("http", "s3"))
            else record.artifact_uri,
            "total_size_bytes": record.total_size,
            "file_count": len(record.files),
            "commit_sha": record.commit_sha,
            **commit_links,
            "config_hash": record.config_hash,
            "kfp_run_id": result.kfp_run_id,
            "kfp_run_url": outcome.kfp_run_url,
            "registration_seconds": outcome.seconds,
            "reused": result.reused,
            "scan_safe": record.scan_safe,
            "scan_summary": dg.MetadataValue.json(record.scan_summary),
        },
        data_version=dg.DataVersion(record.digest),
        check_results=[
            dg.AssetCheckResult(
                check_name=CHECK_SECURITY_SCAN,
                passed=bool(record.scan_safe),
                metadata=outcome.scan_counts,
            ),
            dg.AssetCheckResult(
                check_name=CHECK_ARTIFACT_INTEGRITY,
                passed=not outcome.problems,
                description=outcome.integrity_problems,
                metadata={"digest": record.digest, "problem_count": len(outcome.problems)},
            ),
        ],
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
    sha = str(validated_config_metadata(context, name)[COMMIT_SHA_KEY])
    github.start(context, Stage.registration, name, sha)
    repo = models_repo.repo()
    config = model_config_at(repo, sha, name)
    try:
        secrets = scan_model_files(repo, sha, config)
    except NothingToRegisterError as exc:
        raise dg.Failure(description=str(exc)) from exc
    yield _repository_check(secrets)
    if not secrets.safe:
        leaked = LeakedSecrets.of(secrets, name, sha)
        github.report(context, secrets_found(name, leaked.findings, leaked.files))
        raise dg.Failure(description=leaked.reason)
    outcome = register_model(
        repo,
        sha,
        config,
        registrar=registrar.registrar(artifact_store),
        registry=artifact_store.registry(),
        scratch_dir=registrar.scratch_dir,
        max_artifact_bytes=registrar.max_artifact_bytes,
        run_id=context.run_id,
    )
    if isinstance(outcome, RegistrationFailed):
        raise dg.Failure(description=str(outcome.error)) from outcome.error
    if isinstance(outcome, ArtifactRefused):
        github.report(context, artifact_unsafe(name, outcome.summary))
        yield _refused_check(outcome)
        raise dg.Failure(description=str(outcome.error)) from outcome.error
    record = outcome.record
    github.report(
        context,
        registered(name, version=record.version, digest=record.digest, files=len(record.files)),
    )
    context.log.info(outcome.log_line)
    yield _materialization(outcome, github.commit_link_metadata(record.commit_sha))
