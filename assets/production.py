"""The ``production_deployment`` asset: the gated, strategy-driven promotion (and rollback)."""

import dagster as dg

from assets.gate import staging_evidence
from assets.names import (
    LAYER_DEPLOYMENT,
    OWNERS,
    PRODUCTION_DEPLOYMENT,
    STAGING_DEPLOYMENT,
    TAG_TRIGGER,
    asset_tags,
)
from assets.partitions import models_partitions
from assets.slo_checks import staging_checks_passed
from assets.wiring import REPO_READERS, collaborators, deployment_record, materialization
from llm_platform.config.environments import PRODUCTION
from llm_platform.promotion.promote import promote
from llm_platform.promotion.rollback import rollback_production
from llm_platform.reporting.stages import Stage
from resources.artifact_store import ArtifactStoreResource
from resources.capacity import CapacityResource
from resources.git_repo import ModelsRepoResource
from resources.github import CommitStatusResource
from resources.github_stage import reports_commit_status
from resources.notifier import NotifierResource
from resources.prometheus import PrometheusResource
from resources.runtime import RuntimeResource


class PromotionConfig(dg.Config):
    """Launch options. ``approver`` is recorded as who launched, but never satisfies a required
    approval (Dagster OSS has no authenticated user: approvals are signed commits to
    ``approvals/<model>.yaml``); ``action: rollback`` restores the previous production digest."""

    action: str = "promote"
    approver: str | None = None
    comment: str = ""
    reason: str = ""
    smoke_requests: int = 20
    #: seconds between the canary analysis' looks (None: the environment's analysis.look_every)
    analysis_window_s: float | None = None
    rollback_window_s: float = 3600.0


@dg.asset(
    name=PRODUCTION_DEPLOYMENT,
    partitions_def=models_partitions,
    deps=[STAGING_DEPLOYMENT],
    group_name="deployments",
    owners=OWNERS,
    tags=asset_tags(LAYER_DEPLOYMENT, PRODUCTION),
    automation_condition=dg.AutomationCondition.eager() & staging_checks_passed(),
)
@reports_commit_status(Stage.production)
def production_deployment(
    context: dg.AssetExecutionContext,
    config: PromotionConfig,
    models_repo: ModelsRepoResource,
    artifact_store: ArtifactStoreResource,
    runtime: RuntimeResource,
    prometheus: PrometheusResource,
    notifier: NotifierResource,
    capacity: CapacityResource,
    github: CommitStatusResource,
) -> dg.MaterializeResult:
    """The digest that passed staging, promoted with the environment's strategy.

    Promotion is allowed only when, for the digest serving in staging: every blocking staging
    check (integration tests and each SLO objective) passed against the latest staging deploy
    (a redeploy after the checks makes them stale), an approval by one of the environment's
    approvers exists when ``approval_required`` (an entry of ``approvals/<model>.yaml`` whose
    commit is SSH-signed by that approver's key in the trust root, and who did not author or sign
    the model's latest change; a launch's ``approver`` never counts), the digest was not rolled
    back from production since the model's last commit or approval (it stays out until a new
    commit or approval names it again), and capacity suffices (on
    Kubernetes: the new replicas fit on the environment's node pool, read from the cluster's nodes
    and pods). Otherwise the run is refused with the reasons, and the refusal is recorded in the
    promotion ledger. Blue-green and canary roll back on their own when smoke tests or canary
    analysis fail.
    """
    name = context.partition_key
    c = collaborators(
        context,
        Stage.production,
        runtime=runtime,
        artifact_store=artifact_store,
        notifier=notifier,
        github=github,
    )
    if config.action == "rollback":
        outcome = rollback_production(
            name,
            reason=config.reason or "manual rollback",
            actor=context.run.tags.get(TAG_TRIGGER, "manual"),
            repo=models_repo.repo(),
            c=c,
        )
    elif config.action == "promote":
        outcome = promote(
            name,
            config,
            staged=deployment_record(context.instance, STAGING_DEPLOYMENT, name),
            repo=models_repo.repo(),
            trust_root=models_repo.trust_root(),
            readers=REPO_READERS,
            staging_evidence=staging_evidence(context.instance, name),
            capacity=capacity,
            prometheus=prometheus,
            c=c,
        )
    else:
        raise dg.Failure(description=f"action {config.action!r}: expected promote or rollback")
    return materialization(outcome)
