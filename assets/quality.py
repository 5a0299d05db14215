"""The ``output_quality`` check on ``staging_deployment``: what the model answers, not how fast.

Thin: gathers the suite (``evals/<model>.yaml`` at the deployed commit), the staging revision
and production's revision, and records what ``llm_platform.evals.quality_check`` decides.
"""

from pathlib import Path
from typing import Any

import dagster as dg

from assets.check_history import latest_materialization_metadata
from assets.names import (
    CHECK_OUTPUT_QUALITY,
    LAYER_QUALITY,
    STAGING_DEPLOYMENT,
    check_ui_metadata,
)
from assets.partitions import models_partitions
from assets.run_inputs import validated_config_metadata
from llm_platform.common.repo_layout import eval_suite_path
from llm_platform.common.ui_numbers import MAX_CHECK_DESCRIPTION
from llm_platform.config import ConfigError
from llm_platform.config.environments import PIPELINE_ENVIRONMENTS, PRODUCTION, STAGING
from llm_platform.evals.baseline_cache import BaselineCache, baseline_cache_root
from llm_platform.evals.quality_check import (
    BaselineTarget,
    QualityOutcome,
    error,
    evaluate_quality,
    no_suite,
)
from llm_platform.evals.quality_report import (
    cases_markdown,
    lost_cases_markdown,
    numeric_metadata,
    text_metadata,
)
from llm_platform.evals.targets import (
    QualityInputError,
    production_baseline,
    revision_url,
    suite_at,
    suite_required,
)
from llm_platform.evals.template_drift import (
    TemplateDrift,
    artifact_chat_template,
    template_drift,
)
from llm_platform.gitops import GitError
from llm_platform.promotion import Ledger
from llm_platform.promotion.deployment_record import COMMIT_SHA_KEY, DeploymentRecord
from llm_platform.targets.artifacts import ArtifactUnavailable
from resources.artifact_store import ArtifactStoreResource
from resources.git_repo import ModelsRepoResource
from resources.runtime import RuntimeResource

#: Engines whose artifacts are GGUF files carrying a chat template.
_GGUF_ENGINES = ("llama-cpp",)


def _drift(
    context: dg.AssetCheckExecutionContext,
    runtime: RuntimeResource,
    artifact_store: ArtifactStoreResource,
    staged: DeploymentRecord,
    baseline: BaselineTarget,
) -> TemplateDrift | None:
    """Candidate's and production's chat templates (None when either cannot be read)."""
    name = context.partition_key
    if staged.serving.engine not in _GGUF_ENGINES or baseline.engine not in _GGUF_ENGINES:
        return None
    if staged.artifact_uri is None:
        context.log.warning(f"{STAGING_DEPLOYMENT} of {name} records no artifact_uri")
        return None
    record = artifact_store.registry().get_record(name, baseline.version, baseline.digest)
    if record is None:
        context.log.warning(f"no registry record for production {baseline.digest[:12]}")
        return None
    try:
        cand = runtime.local_artifact(name, staged.artifact_uri, staged.digest)
        prod = runtime.local_artifact(name, record.artifact_uri, baseline.digest)
        return template_drift(artifact_chat_template(cand), artifact_chat_template(prod))
    except (ArtifactUnavailable, ValueError) as exc:
        context.log.warning(f"chat templates not compared: {exc}")
        return None


def _outcome(
    context: dg.AssetCheckExecutionContext,
    models_repo: ModelsRepoResource,
    artifact_store: ArtifactStoreResource,
    runtime: RuntimeResource,
) -> QualityOutcome:
    name = context.partition_key
    meta = latest_materialization_metadata(context.instance, STAGING_DEPLOYMENT, name)
    if meta is None:
        return error(f"{name} has no {STAGING_DEPLOYMENT} to check")
    try:
        staged = DeploymentRecord.from_metadata(meta)
    except ValueError as exc:
        return error(f"{STAGING_DEPLOYMENT} of {name}: {exc}")
    sha = str(validated_config_metadata(context, name)[COMMIT_SHA_KEY])
    repo = models_repo.repo()
    rel = eval_suite_path(name)
    try:
        suite = suite_at(repo, sha, name)
        if suite is None:
            envs = suite_required(repo, sha, PIPELINE_ENVIRONMENTS)
            return no_suite(rel, required=bool(envs), envs=" and ".join(envs) or "no environment")
    except (ConfigError, GitError) as exc:
        return error(f"{rel} at {sha[:12]}: {exc}")
    rt = runtime.runtime()
    try:
        candidate_url = revision_url(rt, STAGING, name, staged.revision)
        baseline = production_baseline(rt, Ledger(artifact_store.store()), name, PRODUCTION)
    except QualityInputError as exc:
        return error(str(exc))
    drift = _drift(context, runtime, artifact_store, staged, baseline) if baseline else None
    context.log.info(
        f"output quality of {name}: {len(suite.cases)} cases on {candidate_url}"
        + (f" and on production {baseline.url}" if baseline else " (no baseline)")
    )
    return evaluate_quality(
        model=name,
        suite=suite,
        candidate_url=candidate_url,
        baseline=baseline,
        cache=BaselineCache(baseline_cache_root(Path(runtime.home))),
        candidate_build=(staged.digest, staged.serving.engine),
        drift=drift,
    )


@dg.asset_check(
    asset=STAGING_DEPLOYMENT,
    name=CHECK_OUTPUT_QUALITY,
    blocking=True,
    partitions_def=models_partitions,
    description="The model's output-quality suite (evals/<model>.yaml) on the staging revision "
    "and on production's, judged paired: fails when the candidate loses more cases than "
    "max_regression allows; inconclusive, an endpoint down or an invalid suite fail too. "
    "Without a suite it passes, unless config/<env>.yaml sets quality.required.",
    metadata=check_ui_metadata(LAYER_QUALITY),
)
def output_quality(
    context: dg.AssetCheckExecutionContext,
    models_repo: ModelsRepoResource,
    artifact_store: ArtifactStoreResource,
    runtime: RuntimeResource,
) -> dg.AssetCheckResult:
    """Paired output-quality verdict of the staging revision against production's revision.

    Production's answers are cached by (production digest, engine, suite hash) under the
    platform home, so an unchanged production is asked once. Per-case results, the scores, the
    cases that regressed (both answers) and a chat-template diff are metadata.
    """
    outcome = _outcome(context, models_repo, artifact_store, runtime)
    context.log.info(f"output_quality of {context.partition_key}: {outcome.reason}")
    meta: dict[str, Any] = {**text_metadata(outcome), **numeric_metadata(outcome)}
    tables = {
        "lost_cases": lost_cases_markdown(outcome),
        "cases": cases_markdown(outcome),
        "template_drift": outcome.template_drift.markdown() if outcome.template_drift else None,
    }
    meta.update({k: dg.MetadataValue.md(v) for k, v in tables.items() if v})
    return dg.AssetCheckResult(
        check_name=CHECK_OUTPUT_QUALITY,
        passed=outcome.passed,
        description=outcome.reason[:MAX_CHECK_DESCRIPTION],
        metadata=meta,
    )
