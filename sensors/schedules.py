"""Scheduled SLO re-checks of every model in staging and production, without redeploying."""

import dagster as dg

from assets.check_history import latest_materialization_storage_id
from assets.jobs import slo_checks_job
from assets.names import (
    MODELS_PARTITIONS_NAME,
    PRODUCTION_DEPLOYMENT,
    SLO_CHECKS,
    SLO_RECHECK_SCHEDULE,
    STAGING_DEPLOYMENT,
    TAG_PARTITION,
    TAG_TRIGGER,
)


def recheck_keys(instance: dg.DagsterInstance, model: str) -> list[dg.AssetCheckKey]:
    """The SLO checks worth running for ``model``: only environments it is deployed to."""
    keys = []
    for asset in (STAGING_DEPLOYMENT, PRODUCTION_DEPLOYMENT):
        if latest_materialization_storage_id(instance, asset, model) is not None:
            keys += [dg.AssetCheckKey(dg.AssetKey(asset), c) for c in SLO_CHECKS.values()]
    return keys


def build_slo_recheck_schedule(cron: str) -> dg.ScheduleDefinition:
    """The re-check schedule on ``cron`` (``LLM_PLATFORM_SLO_RECHECK_CRON``, default hourly)."""

    @dg.schedule(
        name=SLO_RECHECK_SCHEDULE,
        job=slo_checks_job,
        cron_schedule=cron,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Re-runs the SLO checks of every deployed model (staging and production) "
        "without redeploying; a failing production check triggers the rollback sensor.",
    )
    def slo_recheck_schedule(context: dg.ScheduleEvaluationContext):
        """One checks-only run per deployed model."""
        ts = context.scheduled_execution_time.isoformat()
        requests = []
        for model in sorted(context.instance.get_dynamic_partitions(MODELS_PARTITIONS_NAME)):
            keys = recheck_keys(context.instance, model)
            if keys:
                # Partition via tag, not partition_key: checks-only jobs lose their partitions
                # definition in Dagster 1.13 (docs/dagster-notes.md).
                requests.append(
                    dg.RunRequest(
                        run_key=f"slo:{model}:{ts}",
                        asset_check_keys=keys,
                        tags={TAG_PARTITION: model, TAG_TRIGGER: SLO_RECHECK_SCHEDULE},
                    )
                )
        return requests or dg.SkipReason("no deployed models to re-check")

    return slo_recheck_schedule
