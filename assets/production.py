"""The ``production_deployment`` asset: the gated, strategy-driven promotion (and rollback)."""

import time
from datetime import UTC, datetime

import dagster as dg

from assets.check_history import latest_materialization_metadata
from assets.gate import (
    approval_item,
    gate_items_markdown,
    staging_check_evidence,
    staging_gate_checks,
)
from assets.names import (
    FAILURE_ANNOUNCED,
    LAYER_DEPLOYMENT,
    OWNERS,
    PRODUCTION_DEPLOYMENT,
    PRODUCTION_ENV,
    STAGING_DEPLOYMENT,
    STAGING_ENV,
    asset_tags,
)
from assets.partitions import models_partitions
from assets.rollback import perform_rollback
from assets.run_inputs import analysis_prompts, environment_config, model_config_at
from assets.slo_checks import staging_checks_passed
from llm_platform.common.ui_numbers import round_seconds
from llm_platform.config import effective_slo
from llm_platform.promotion import Ledger, LedgerEvent
from llm_platform.promotion.exclusive import (
    PromotionInProgress,
    promotion_lock,
    roll_out_and_record,
)
from llm_platform.promotion.gate import GateDecision, checks_item
from llm_platform.promotion.rollback_hold import latest_model_commit, rollback_hold_item
from llm_platform.promotion.rollout import RolloutResult, plan_from_environment
from llm_platform.reporting.commit_status import Stage, promotion_refused, rollout_result
from llm_platform.serving.engines.selection import serving_from_metadata
from llm_platform.slo import PrometheusError
from llm_platform.slo.deployment_profile import METRIC_PROFILE_KEY, metric_profile_for
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


def _steps_markdown(result: RolloutResult) -> str:
    rows = "\n".join(
        f"| {s.name} | {'ok' if s.ok else 'FAILED'} | {s.duration_s:.2f} | {s.detail} |"
        for s in result.steps
    )
    return "| step | result | seconds | detail |\n|---|---|---|---|\n" + rows


@dg.asset(
    name=PRODUCTION_DEPLOYMENT,
    partitions_def=models_partitions,
    deps=[STAGING_DEPLOYMENT],
    group_name="deployments",
    owners=OWNERS,
    tags=asset_tags(LAYER_DEPLOYMENT, PRODUCTION_ENV),
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
    ledger = Ledger(artifact_store.store())
    if config.action == "rollback":
        try:  # a rollback moves production too: never while a promotion of it runs
            with promotion_lock(
                runtime.home_path(), env=PRODUCTION_ENV, model=name, run_id=context.run_id
            ):
                return perform_rollback(
                    context,
                    name=name,
                    reason=config.reason or "manual rollback",
                    ledger=ledger,
                    artifact_store=artifact_store,
                    runtime=runtime,
                    notifier=notifier,
                )
        except PromotionInProgress as exc:
            raise dg.Failure(description=str(exc)) from exc
    if config.action != "promote":
        raise dg.Failure(description=f"action {config.action!r}: expected promote or rollback")
    staged = latest_materialization_metadata(context.instance, STAGING_DEPLOYMENT, name)
    if staged is None:
        raise dg.Failure(description=f"{name} was never deployed to staging: nothing to promote")
    digest, version = str(staged["digest"]), str(staged["version"])
    try:
        profile = metric_profile_for(staged)  # production serves what staging served
        serving = serving_from_metadata(staged)
    except ValueError as exc:
        raise dg.Failure(description=f"{STAGING_DEPLOYMENT} of {name}: {exc}") from exc
    repo = models_repo.repo()
    repo.sync()
    head = repo.head()
    env = environment_config(repo, head, PRODUCTION_ENV)
    staging_slo = effective_slo(
        environment_config(repo, head, STAGING_ENV), model_config_at(repo, head, name)
    )
    staging_checks = staging_gate_checks(staging_slo)
    registry = artifact_store.registry()
    record = registry.get_record(name, version, digest)
    if record is None:
        raise dg.Failure(description=f"no registry record for {name} {version} {digest[:12]}")
    github.start(context, Stage.production, name, record.commit_sha)
    approval_gate, approval = approval_item(
        repo=repo,
        head=head,
        env=env,
        model=name,
        version=version,
        digest=digest,
        trust_root=models_repo.trust_root(),
        approver=config.approver,
        comment=config.comment,
    )
    rt = runtime.runtime()
    renewed = latest_model_commit(repo, head, name)
    held = rollback_hold_item(
        ledger.history(
            name,
            env=PRODUCTION_ENV,
            since=datetime.fromtimestamp(renewed.timestamp, UTC) if renewed else None,
        ),
        env=PRODUCTION_ENV,
        version=version,
        digest=digest,
        renewed_by=renewed,
    )
    decision = GateDecision(
        items=[
            checks_item(
                staging_check_evidence(context.instance, name, staging_checks), digest=digest
            ),
            approval_gate,
            held,
            capacity.gate_item(
                rt,
                env=env,
                model=model_config_at(repo, head, name),
                artifact_bytes=record.total_size,
            ),
        ]
    )
    gate_md = gate_items_markdown(decision.items)
    event_base = {
        "model": name,
        "env": env.environment,
        "version": version,
        "digest": digest,
        "run_id": context.run_id,
        "actor": config.approver or "automation",
        "approver": approval.approver if approval else None,
        "commit_sha": record.commit_sha,
    }
    if not decision.allowed:
        refused = ledger.record(
            LedgerEvent(
                kind="refused",
                reason=decision.reason,
                **event_base,
                evidence={"gate": [i.model_dump() for i in decision.items]},
            )
        )
        notifier.notify(refused)
        github.report(context, promotion_refused(name, decision))
        raise dg.Failure(
            description=f"promotion of {name} {version} ({digest[:12]}) refused: "
            + decision.reason,
            metadata={"gate": dg.MetadataValue.md(gate_md), FAILURE_ANNOUNCED: True},
        )
    try:
        prom_url: str | None = prometheus.resolved_url(
            monitoring_namespace=env.monitoring.prometheus_namespace, env=env.environment
        )
    except PrometheusError:
        prom_url = None  # canary analysis then reads the gateway's own counters
    plan = plan_from_environment(
        env,
        env=env.environment,
        model=name,
        version=version,
        digest=digest,
        artifact_uri=record.artifact_uri,
        serving=serving,
        smoke_requests=config.smoke_requests,
        **(
            {}
            if config.analysis_window_s is None
            else {"analysis_window_s": config.analysis_window_s}
        ),
        analysis_prompts=analysis_prompts(repo, head, name),
        rollback_window_s=config.rollback_window_s,
        prometheus_url=prom_url,
        metrics_namespace=env.namespace,
        metric_profile=profile.name,
    )
    try:
        result, event = roll_out_and_record(
            rt,
            plan,
            ledger,
            home=runtime.home_path(),
            run_id=context.run_id,
            event_fields=event_base,
            evidence={
                "gate": [i.model_dump() for i in decision.items],
                "approval": approval.model_dump(mode="json") if approval else None,
            },
        )
    except PromotionInProgress as exc:
        raise dg.Failure(description=str(exc)) from exc
    github.report(context, rollout_result(name, result))
    notifier.notify(event)
    if result.outcome == "held":
        raise dg.Failure(
            description=f"canary of {name} {version} held at its share: {result.reason}",
            metadata={
                "steps": dg.MetadataValue.md(_steps_markdown(result)),
                FAILURE_ANNOUNCED: True,
            },
        )
    if result.outcome != "promoted":
        raise dg.Failure(
            description=f"{result.strategy} rollout of {name} {version} was rolled back: "
            f"{result.reason}",
            metadata={
                "steps": dg.MetadataValue.md(_steps_markdown(result)),
                FAILURE_ANNOUNCED: True,
            },
        )
    status = rt.status(env.environment, name)
    return dg.MaterializeResult(
        metadata={
            "action": "promote",
            "version": version,
            "digest": digest,
            "revision": result.new_revision,
            "previous_revision": result.previous_revision or "",
            "strategy": result.strategy,
            METRIC_PROFILE_KEY: profile.name,
            **serving.metadata(),
            "endpoint": dg.MetadataValue.url(status.endpoint) if status and status.endpoint else "",
            "approver": approval.approver if approval else "(not required)",
            "approval_source": approval.source if approval else "",
            "gate": dg.MetadataValue.md(gate_md),
            "rollout_steps": dg.MetadataValue.md(_steps_markdown(result)),
            "rollout_seconds": round_seconds(result.duration_s),
            **github.commit_link_metadata(record.commit_sha),
            "deployed_at_unix": dg.MetadataValue.timestamp(time.time()),
            "ledger_event": event.event_id or "",
            "replicas": result.new_spec.replicas,
            "capacity_warnings": "; ".join(status.warnings) if status else "",
        },
        data_version=dg.DataVersion(f"{digest}:{result.new_revision}"),
    )
