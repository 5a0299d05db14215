"""The ``staging_deployment`` asset: the registered digest serving in staging, tested."""

import dagster as dg

from assets.check_history import latest_materialization_metadata
from assets.names import (
    CHECK_INTEGRATION_TESTS,
    LAYER_DEPLOYMENT,
    OWNERS,
    REGISTERED_MODEL,
    STAGING_DEPLOYMENT,
    asset_tags,
    check_ui_metadata,
)
from assets.partitions import models_partitions
from assets.run_inputs import validated_config_metadata
from assets.wiring import REPO_READERS, collaborators, materialization
from llm_platform.config.environments import STAGING
from llm_platform.promotion.deployment_record import COMMIT_SHA_KEY, suite_numbers
from llm_platform.promotion.staging import Registered, deploy_to_staging, suite_failures
from llm_platform.reporting.stages import Stage
from resources.artifact_store import ArtifactStoreResource
from resources.git_repo import ModelsRepoResource
from resources.github import CommitStatusResource
from resources.github_stage import reports_commit_status
from resources.notifier import NotifierResource
from resources.prometheus import PrometheusResource
from resources.runtime import RuntimeResource


class StagingConfig(dg.Config):
    """Launch options for a staging deployment (fault injection is for demos and drills)."""

    ready_timeout_s: float = 90.0
    load_requests: int = 60
    load_concurrency: int = 8
    min_success_rate: float = 0.8
    inject_latency_ms: float = 0.0
    inject_error_rate: float = 0.0
    #: Longest wait for Prometheus to scrape the new revision's zero-valued series before the
    #: suite's traffic, so that every test request counts towards the SLO sample count.
    settle_before_load_s: float = 20.0


@dg.asset(
    name=STAGING_DEPLOYMENT,
    partitions_def=models_partitions,
    deps=[REGISTERED_MODEL],
    group_name="deployments",
    owners=OWNERS,
    tags=asset_tags(LAYER_DEPLOYMENT, STAGING),
    kinds={"prometheus"},  # plus the target's kind, added by the composition root
    check_specs=[
        dg.AssetCheckSpec(
            CHECK_INTEGRATION_TESTS,
            asset=STAGING_DEPLOYMENT,
            blocking=True,
            partitions_def=models_partitions,
            description="Health, an OpenAI-shaped completion with generated text, and concurrent "
            "load through the staging gateway (success rate >= the configured minimum).",
            metadata=check_ui_metadata(LAYER_DEPLOYMENT),
        )
    ],
)
@reports_commit_status(Stage.staging)
def staging_deployment(
    context: dg.AssetExecutionContext,
    config: StagingConfig,
    models_repo: ModelsRepoResource,
    artifact_store: ArtifactStoreResource,
    runtime: RuntimeResource,
    notifier: NotifierResource,
    prometheus: PrometheusResource,
    github: CommitStatusResource,
) -> dg.MaterializeResult:
    """The exact registered digest deployed to staging, ready, and integration-tested.

    Deploys the digest recorded by ``registered_model`` (verified when fetched), waits until it
    serves through the staging gateway, then runs the integration suite against
    ``<gateway>/<model>`` (with streaming and chat tests when the engine supports them). The
    engine is ``serving.engine`` from ``model.yaml``, else chosen from the artifact's format.
    If the new revision never becomes ready the previous one keeps
    serving and the run fails with the tail of the server's log.
    """
    name = context.partition_key
    reg = latest_materialization_metadata(context.instance, REGISTERED_MODEL, name)
    if reg is None:
        raise dg.Failure(description=f"model {name!r}: {REGISTERED_MODEL} was never materialized")
    registered = Registered(
        version=str(reg["version"]), digest=str(reg["digest"]), commit_sha=str(reg[COMMIT_SHA_KEY])
    )
    github.start(context, Stage.staging, name, registered.commit_sha)
    cfg_meta = validated_config_metadata(context, name)
    outcome = deploy_to_staging(
        name,
        registered,
        config,
        repo=models_repo.repo(),
        config_sha=str(cfg_meta[COMMIT_SHA_KEY]),
        readers=REPO_READERS,
        prometheus=prometheus,
        c=collaborators(
            context,
            Stage.staging,
            runtime=runtime,
            artifact_store=artifact_store,
            notifier=notifier,
            github=github,
        ),
    )
    suite = outcome.record.suite if outcome.record else None
    return materialization(
        outcome,
        check_results=[
            dg.AssetCheckResult(
                check_name=CHECK_INTEGRATION_TESTS,
                passed=suite.passed,
                description=suite_failures(suite),
                metadata=suite_numbers(suite),
            )
        ]
        if suite
        else [],
    )
