"""The scheduled SLO re-check: every production model in one tick, runs only where needed."""

import dagster as dg

from assets.jobs import slo_checks_job
from assets.names import SLO_RECHECK_SCHEDULE, TAG_PARTITION, TAG_TRIGGER
from assets.recheck_record import record_request
from assets.run_inputs import environment_config
from llm_platform.config.environments import PRODUCTION
from llm_platform.slo import PrometheusError
from resources.git_repo import ModelsRepoResource
from resources.prometheus import PrometheusResource
from sensors.fleet_recheck import Unreachable, run_fleet_recheck


def build_slo_recheck_schedule(cron: str) -> dg.ScheduleDefinition:
    """The re-check schedule on ``cron`` (``LLM_PLATFORM_SLO_RECHECK_CRON``, default hourly)."""

    @dg.schedule(
        name=SLO_RECHECK_SCHEDULE,
        job=slo_checks_job,
        cron_schedule=cron,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Re-checks every production model in one tick with a constant number of "
        "PromQL queries (window objectives and error-budget burn rates) and records each "
        "model's slo_recheck result on its partition in one checks-only run (fleet_recheck) per "
        "tick; a fast burn or failing latency makes the "
        "rollback sensor roll back, a slow burn launches a checks-only run that notifies. "
        "Staging deployments awaiting promotion get a checks-only run of their SLO checks.",
    )
    def slo_recheck_schedule(
        context: dg.ScheduleEvaluationContext,
        models_repo: ModelsRepoResource,
        prometheus: PrometheusResource,
    ):
        """Fleet re-check: the run recording it; checks-only runs for models that warn or await
        promotion."""
        ts = context.scheduled_execution_time.isoformat()
        repo = models_repo.repo()
        try:
            # The production environment's Prometheus (found in its namespace on Kubernetes).
            production = environment_config(repo, repo.head(), PRODUCTION)
            client = prometheus.client(
                monitoring_namespace=production.monitoring.prometheus_namespace
            )
        except dg.Failure as exc:
            unreachable = Unreachable(PrometheusError(exc.description or str(exc)))
            result = run_fleet_recheck(
                context.instance, repo, unreachable, trigger=SLO_RECHECK_SCHEDULE
            )
        except PrometheusError as exc:  # recorded on every model as an error, never a pass
            result = run_fleet_recheck(
                context.instance, repo, Unreachable(exc), trigger=SLO_RECHECK_SCHEDULE
            )
        else:
            with client:
                result = run_fleet_recheck(
                    context.instance, repo, client, trigger=SLO_RECHECK_SCHEDULE
                )
        for model, error in sorted(result.errors.items()):
            context.log.warning(f"{model}: not re-checked: {error}")
        requests = (
            [
                record_request(
                    result.evaluations, run_key=f"slo-recheck:{ts}", trigger=SLO_RECHECK_SCHEDULE
                )
            ]
            if result.evaluations
            else []
        )
        requests += [
            # Partition via tag, not partition_key: checks-only jobs lose their partitions
            # definition in Dagster 1.13 (docs/dagster-notes.md).
            dg.RunRequest(
                run_key=f"slo:{model}:{ts}",
                asset_check_keys=keys,
                tags={TAG_PARTITION: model, TAG_TRIGGER: SLO_RECHECK_SCHEDULE},
            )
            for model, keys in sorted(result.check_runs.items())
        ]
        if requests:
            return requests
        return dg.SkipReason("no production model to re-check")

    return slo_recheck_schedule
