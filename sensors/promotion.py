"""Automation around production: automatic promotion and automatic rollback."""

from datetime import UTC, datetime

import dagster as dg

from assets.check_history import (
    latest_check_status,
    latest_materializations_by_partition,
    partitions_with_new_check_events,
)
from assets.jobs import production_job
from assets.names import (
    MODELS_PARTITIONS_NAME,
    PRODUCTION_DEPLOYMENT,
    PROMOTION_AUTOMATION,
    ROLLBACK_SENSOR,
    TAG_TRIGGER,
)
from assets.production import production_deployment
from assets.run_inputs import environment_config
from assets.wiring import recorded_deployment
from llm_platform.config.environments import PRODUCTION
from llm_platform.gitops import GitError
from llm_platform.promotion import Ledger
from llm_platform.slo import PrometheusError
from llm_platform.slo.alerts import parse_alerts, rollback_alerts_query, rollbacks
from llm_platform.slo.recheck import RECHECK_ACTION_KEY, RECHECK_CHECK
from resources.artifact_store import ArtifactStoreResource
from resources.git_repo import ModelsRepoResource
from resources.prometheus import PrometheusResource

#: Promotes a model once its staging deployment is updated and every blocking staging check
#: passed against it (``eager() & all_deps_blocking_checks_passed()`` on the asset). The
#: asset's own gate still decides (approval, capacity, stale checks).
promotion_automation = dg.AutomationConditionSensorDefinition(
    PROMOTION_AUTOMATION,
    # Without its checks: production SLOs right after a switch have no evidence yet (they run
    # on the re-check schedule).
    target=dg.AssetSelection.assets(production_deployment).without_checks(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    run_tags={TAG_TRIGGER: PROMOTION_AUTOMATION},
    description="Requests production_deployment for models whose staging checks passed.",
)


def _rollback_reason(instance: dg.DagsterInstance, model: str, mat_id: int) -> str | None:
    """Why the latest re-check of the serving revision (a checks-only run's, or the scheduled
    fleet tick's) asks for a rollback; None when it does not."""
    st = latest_check_status(instance, PRODUCTION_DEPLOYMENT, RECHECK_CHECK, model)
    if st.target_storage_id != mat_id or st.metadata.get(RECHECK_ACTION_KEY) != "rollback":
        return None
    return st.description or "production re-check asks for a rollback"


def rollback_request(model: str, mat_id: int, reason: str, *, trigger: str) -> dg.RunRequest:
    """A production_job run that rolls ``model`` back (one per judged materialization)."""
    return dg.RunRequest(
        run_key=f"rollback:{model}:{mat_id}",
        partition_key=model,
        run_config={
            "ops": {
                PRODUCTION_DEPLOYMENT: {"config": {"action": "rollback", "reason": reason[:500]}}
            }
        },
        tags={TAG_TRIGGER: trigger},
    )


def firing_alert_rollbacks(
    models_repo: ModelsRepoResource, prometheus: PrometheusResource, serving: dict[str, str]
) -> dict[str, str]:
    """Model -> reason for the serving revisions with a firing page alert asking for a
    rollback, from one ``ALERTS`` query to the production environment's Prometheus.

    Raises:
        PrometheusError: Prometheus is not configured, unreachable or rejected the query.
        GitError: the models repo cannot be read.
        dagster.Failure: the production environment config is invalid.
    """
    if not serving:
        return {}
    repo = models_repo.repo()
    production = environment_config(repo, repo.head(), PRODUCTION)
    namespace = production.monitoring.prometheus_namespace
    with prometheus.client(monitoring_namespace=namespace) as client:
        samples = client.query(rollback_alerts_query(PRODUCTION), at=datetime.now(UTC))
    return rollbacks(parse_alerts(samples), serving)


@dg.sensor(
    name=ROLLBACK_SENSOR,
    job=production_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Rolls production back to the previous digest when a page alert of the SLO "
    "rules (fast error-budget burn) fires for the serving revision in the production "
    "Prometheus (one ALERTS query for the fleet per tick), or when the production re-check "
    "(slo_recheck) of the serving revision asks for it: a latency objective fails or an error "
    "budget burns fast (never when inconclusive).",
)
def production_rollback_sensor(
    context: dg.SensorEvaluationContext,
    artifact_store: ArtifactStoreResource,
    models_repo: ModelsRepoResource,
    prometheus: PrometheusResource,
) -> dg.SensorResult | dg.SkipReason:
    """One rollback run per failing production deployment (run key = its materialization)."""
    ledger = Ledger(artifact_store.store())
    cursor = int(context.cursor) if context.cursor else 0
    checked, new_cursor = partitions_with_new_check_events(
        context.instance, PRODUCTION_DEPLOYMENT, [RECHECK_CHECK], cursor
    )
    partitions = set(context.instance.get_dynamic_partitions(MODELS_PARTITIONS_NAME))
    production = {
        m: r
        for m, r in latest_materializations_by_partition(
            context.instance, PRODUCTION_DEPLOYMENT
        ).items()
        if m in partitions
    }
    deployed = {m: recorded_deployment(r) for m, r in production.items()}
    serving = {m: d.revision if d else "" for m, d in deployed.items()}
    try:
        alerting = firing_alert_rollbacks(models_repo, prometheus, serving)
    except (PrometheusError, GitError, dg.Failure) as exc:  # the scheduled re-check still acts
        context.log.warning(f"firing SLO alerts not read: {exc}")
        alerting = {}
    requests = []
    for model in sorted((set(checked) | set(alerting)) & set(production)):
        mat_id = production[model].storage_id
        failing = alerting.get(model) or _rollback_reason(context.instance, model, mat_id)
        # The rollback restores the ledger's previous alias; without one there is nothing to do.
        if not failing or ledger.previous(model, PRODUCTION) is None:
            continue
        reason = "production SLO failed: " + failing
        context.log.warning(f"{model}: {reason}; requesting rollback")
        requests.append(rollback_request(model, mat_id, reason, trigger=ROLLBACK_SENSOR))
    if not requests and not checked:
        return dg.SkipReason("no new production check evaluations and no firing page alerts")
    return dg.SensorResult(run_requests=requests, cursor=str(new_cursor))
