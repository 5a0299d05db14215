"""The ``model_config`` asset: a model's validated configuration at a commit."""

from typing import Any

import dagster as dg

from assets.names import (
    CHECK_CONFIG_VALID,
    COMMIT_AUTHOR_KEY,
    CONFIG_PROBLEMS_KEY,
    CONFIG_VALID_KEY,
    LAYER_CONFIG,
    MODEL_CONFIG,
    OWNERS,
    TAG_COMMIT,
    asset_tags,
    check_ui_metadata,
)
from assets.partitions import models_partitions
from assets.run_inputs import environment_config, run_commit
from llm_platform.config import model_config_path
from llm_platform.config.applicability import cluster_only_settings
from llm_platform.config.environments import PIPELINE_ENVIRONMENTS
from llm_platform.config.model_check import (
    InvalidModelConfig,
    ValidModelConfig,
    check_model_config,
)
from llm_platform.gitops import GitError, GitRepo
from llm_platform.promotion.deployment_record import COMMIT_SHA_KEY
from llm_platform.reporting.commit_status import config_invalid, config_valid
from llm_platform.reporting.stages import Stage
from resources.git_repo import ModelsRepoResource
from resources.github import CommitStatusResource
from resources.github_stage import reports_commit_status


def _cluster_only_markdown(repo: GitRepo, sha: str) -> str:
    """The environments' keys that take effect on the kubernetes target only (never dropped)."""
    lines = []
    for env in PIPELINE_ENVIRONMENTS:
        try:
            lines += [
                f"- `{key}`" for key in cluster_only_settings(environment_config(repo, sha, env))
            ]
        except dg.Failure as exc:
            lines.append(f"- {env}: not checked ({exc.description})")
    return "\n".join(lines)


def _invalid_result(
    checked: InvalidModelConfig, base_meta: dict[str, Any], rel: str
) -> dg.MaterializeResult:
    """An invalid config, recorded with its problems; its blocking check fails."""
    return dg.MaterializeResult(
        metadata={
            **base_meta,
            CONFIG_VALID_KEY: False,
            "problem_count": len(checked.problems),
            CONFIG_PROBLEMS_KEY: dg.MetadataValue.md(checked.markdown),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=CHECK_CONFIG_VALID,
                passed=False,
                description=f"{len(checked.problems)} problem(s) in {rel}",
                metadata={CONFIG_PROBLEMS_KEY: dg.MetadataValue.md(checked.markdown)},
            )
        ],
    )


def _valid_result(
    checked: ValidModelConfig, base_meta: dict[str, Any], cluster_only: str
) -> dg.MaterializeResult:
    """A valid config, recorded with its summary; versioned by its hash."""
    summary = checked.summary()
    return dg.MaterializeResult(
        metadata={
            **base_meta,
            CONFIG_VALID_KEY: True,
            **summary,
            "cluster_only_settings": dg.MetadataValue.md(cluster_only),
        },
        data_version=dg.DataVersion(checked.config_hash),
        check_results=[
            dg.AssetCheckResult(
                check_name=CHECK_CONFIG_VALID,
                passed=True,
                metadata={"version": summary["version"], "config_hash": checked.config_hash},
            )
        ],
    )


@dg.asset(
    name=MODEL_CONFIG,
    partitions_def=models_partitions,
    group_name="gitops",
    kinds={"git", "yaml"},
    owners=OWNERS,
    tags=asset_tags(LAYER_CONFIG),
    check_specs=[
        dg.AssetCheckSpec(
            CHECK_CONFIG_VALID,
            asset=MODEL_CONFIG,
            blocking=True,
            partitions_def=models_partitions,
            description="models/<name>/model.yaml passes the schema and the business rules "
            "(memory >= 8 GiB per GPU, name equals its directory, DNS-1123 name, no unknown "
            "or duplicate keys). Blocks registration in the same run.",
            metadata=check_ui_metadata(LAYER_CONFIG),
        )
    ],
)
@reports_commit_status(Stage.config)
def model_config(
    context: dg.AssetExecutionContext,
    models_repo: ModelsRepoResource,
    github: CommitStatusResource,
) -> dg.MaterializeResult:
    """The model's ``model.yaml`` read from the models repo at the run's commit and validated.

    Records the version, commit SHA, config hash and the resource request. An invalid config is
    still recorded (so the UI shows what was pushed and why it is wrong) but its blocking check
    fails, which stops registration for this model only; other models run separately.
    """
    name = context.partition_key
    repo = models_repo.repo()
    sha = run_commit(context, repo)
    github.start(context, Stage.config, name, sha)
    rel = model_config_path(name)
    try:
        raw = repo.read_file(sha, rel)
    except GitError as exc:
        raise dg.Failure(description=f"{rel} at {sha[:12]}: {exc}") from exc
    info = repo.commit_info(sha)
    base_meta: dict[str, Any] = {
        COMMIT_SHA_KEY: sha,
        **github.commit_link_metadata(sha),
        COMMIT_AUTHOR_KEY: info.author,
        "commit_subject": info.subject,
        "path": rel,
        "size_bytes": len(raw),
        "triggered_by_push": TAG_COMMIT in context.run.tags,
    }
    checked = check_model_config(raw, source=rel, name=name)
    if isinstance(checked, InvalidModelConfig):
        context.log.error(f"{rel} at {sha[:12]} is invalid:\n" + "\n".join(checked.lines))
        github.report(context, config_invalid(name, checked.problems))
        return _invalid_result(checked, base_meta, rel)
    github.report(context, config_valid(name, version=checked.config.version))
    return _valid_result(checked, base_meta, _cluster_only_markdown(repo, sha))
