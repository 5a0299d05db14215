"""Every failed run is announced: invalid config, failed registration, a blocked scan, a staging
deployment that never became ready, a refused or rolled-back promotion, a crashed run."""

import dagster as dg

from assets.check_history import latest_materialization_metadata
from assets.names import (
    COMMIT_AUTHOR_KEY,
    CONFIG_PROBLEMS_KEY,
    FAILURE_ANNOUNCED,
    MODEL_CONFIG,
    PRODUCTION_DEPLOYMENT,
    REGISTERED_MODEL,
    RUN_FAILURE_SENSOR,
    STAGING_DEPLOYMENT,
    TAG_AUTHOR,
    TAG_COMMIT,
    TAG_PARTITION,
)
from assets.slo_checks import production_slo_checks, staging_slo_checks
from llm_platform.promotion.deployment_record import COMMIT_SHA_KEY
from llm_platform.reporting.failure_alerts import RunFailure, run_url, short_reason
from llm_platform.reporting.stages import RUN, Stage
from resources.notifier import NotifierResource

#: Step key -> the stage of a model's journey it belongs to.
STAGE_OF_STEP: dict[str, Stage] = {
    MODEL_CONFIG: Stage.config,
    REGISTERED_MODEL: Stage.registration,
    STAGING_DEPLOYMENT: Stage.staging,
    staging_slo_checks.node_def.name: Stage.staging,
    PRODUCTION_DEPLOYMENT: Stage.production,
    production_slo_checks.node_def.name: Stage.production,
}


#: The error of a step stopped by its own failed blocking check: the check says why, not it.
_BLOCKED_BY_CHECK = "DagsterAssetCheckFailedError"


def _failed_checks(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """One line per check that failed in the run (with a config's problem list)."""
    lines = []
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        evaluation = event.asset_check_evaluation_data if event else None
        if evaluation is None or evaluation.passed:
            continue
        lines.append(f"check {evaluation.check_name} failed: {evaluation.description or ''}")
        problems = evaluation.metadata.get(CONFIG_PROBLEMS_KEY)
        if problems is not None:
            lines.append(str(problems.value))
    return lines


def announced_by_its_steps(context: dg.RunFailureSensorContext) -> bool:
    """Every failed step already announced its outcome (a refused, held or rolled-back
    promotion notifies from its ledger event): one refusal, one message."""
    steps = context.get_step_failure_events()
    return bool(steps) and all(
        (data := event.step_failure_data.user_failure_data) is not None
        and (flag := data.metadata.get(FAILURE_ANNOUNCED)) is not None
        and flag.value is True
        for event in steps
    )


def describe_failure(context: dg.RunFailureSensorContext, dagster_url: str) -> RunFailure:
    """What the failed run was doing, where it failed and why, from its tags and events."""
    run = context.dagster_run
    tags = run.tags
    model = run.tags.get(TAG_PARTITION)
    commit, author = tags.get(TAG_COMMIT), tags.get(TAG_AUTHOR)
    if model and not commit:  # launched by automation or the UI: the model's latest config
        meta = latest_materialization_metadata(context.instance, MODEL_CONFIG, model) or {}
        commit = str(meta.get(COMMIT_SHA_KEY) or "") or None
        author = str(meta.get(COMMIT_AUTHOR_KEY) or "") or None
    steps = context.get_step_failure_events()
    step = steps[0].step_key if steps else None
    reasons = _failed_checks(context.instance, run.run_id)  # what a blocked step waited on
    for event in steps:
        data = event.step_failure_data
        user = data.user_failure_data
        if user is not None and user.description:
            reason = user.description
        elif data.error is not None and data.error.cls_name != _BLOCKED_BY_CHECK:
            reason = data.error.message.strip()
        else:
            continue
        if not any(reason in line for line in reasons):  # e.g. the scan's verdict, said once
            reasons.append(reason)
    if not reasons:  # no step failed: the run itself crashed or was failed from outside
        reasons.append(context.failure_event.message or "the run failed")
    return RunFailure(
        run_id=run.run_id,
        job=run.job_name,
        model=model,
        stage=STAGE_OF_STEP.get(step or "", RUN),
        step=step,
        commit_sha=commit,
        author=author,
        reason=short_reason("\n".join(reasons)),
        run_url=run_url(dagster_url, run.run_id),
    )


@dg.run_failure_sensor(
    name=RUN_FAILURE_SENSOR,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Announces every failed run of this code location (model, stage, commit, "
    "author, reason, run link) to the failing stage's environment webhook, else the global one.",
)
def run_failure_sensor(context: dg.RunFailureSensorContext, notifier: NotifierResource) -> None:
    """Send one message per failed run; a Slack outage is logged, never retried forever."""
    if announced_by_its_steps(context):
        context.log.info(f"run {context.dagster_run.run_id[:8]} failed: already announced")
        return
    failure = describe_failure(context, notifier.dagster_url)
    delivered = notifier.notify_failure(failure)
    context.log.info(
        f"run {failure.run_id[:8]} ({failure.model or failure.job}, {failure.stage}) failed: "
        + ("announced" if delivered else "announcement NOT delivered (see the logs)")
    )
