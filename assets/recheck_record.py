"""Where the scheduled fleet re-check records its verdicts: one checks-only run per tick.

The schedule's tick judges every production model with a constant number of PromQL queries
(``sensors/fleet_recheck.py``) and requests one run of the ``fleet_recheck`` check. That run
records each model's ``slo_recheck`` evaluation on its partition, inside the run: run-less
evaluations of a partitioned check share Dagster's empty run id, so a second tick's record
would violate the ``asset_check_executions`` unique key (asset, check, run id, partition);
evaluations inside a run are keyed by that run, so any number of ticks coexist. The
``fleet_recheck`` result itself summarises the tick (models judged, rollbacks, errors).
"""

from collections.abc import Sequence

import dagster as dg

from assets.names import (
    FLEET_RECHECK_CHECK,
    LAYER_SLO,
    PRODUCTION_DEPLOYMENT,
    TAG_TRIGGER,
    check_ui_metadata,
)
from llm_platform.slo.recheck import RECHECK_ACTION_KEY, RECHECK_CHECK, RECHECK_VERDICT_KEY

#: The recording check's key (checks-only runs of ``slo_checks_job`` select it alone).
FLEET_RECHECK_KEY = dg.AssetCheckKey(dg.AssetKey(PRODUCTION_DEPLOYMENT), FLEET_RECHECK_CHECK)
#: The op of the ``fleet_recheck`` check, whose config carries the tick's evaluations.
FLEET_RECHECK_OP = f"{PRODUCTION_DEPLOYMENT}_{FLEET_RECHECK_CHECK}"


class FleetRecheckRecord(dg.Config):
    """The tick's ``slo_recheck`` evaluations, one per production model (Dagster-serialized)."""

    evaluations: list[str] = []


def _decode(text: str) -> dg.AssetCheckEvaluation:
    value = dg.deserialize_value(text)
    if not isinstance(value, dg.AssetCheckEvaluation) or value.asset_check_key != dg.AssetCheckKey(
        dg.AssetKey(PRODUCTION_DEPLOYMENT), RECHECK_CHECK
    ):
        raise dg.Failure(
            f"{FLEET_RECHECK_OP} config: expected {PRODUCTION_DEPLOYMENT} {RECHECK_CHECK} "
            f"evaluations, got {type(value).__name__}"
        )
    if not value.partition:
        raise dg.Failure(f"{FLEET_RECHECK_OP} config: an evaluation without a model partition")
    return value


def _action(evaluation: dg.AssetCheckEvaluation) -> str:
    value = evaluation.metadata.get(RECHECK_ACTION_KEY)
    return str(value.value) if value is not None else ""


@dg.asset_check(
    asset=PRODUCTION_DEPLOYMENT,
    name=FLEET_RECHECK_CHECK,
    blocking=False,
    description="The scheduled fleet re-check's tick: records every production model's "
    "slo_recheck verdict (judged by the tick with a constant number of queries) on its "
    "partition, inside this run, and summarises the tick. Fails when a model could not be "
    "judged (Prometheus or the models repo unreachable): never a pass for what was not seen.",
    metadata=check_ui_metadata(LAYER_SLO),
)
def fleet_recheck(
    context: dg.AssetCheckExecutionContext, config: FleetRecheckRecord
) -> dg.AssetCheckResult:
    """Record the tick's per-model ``slo_recheck`` evaluations; summarise them."""
    evaluations = [_decode(text) for text in config.evaluations]
    for evaluation in evaluations:
        # log_event records AssetCheckEvaluation too (Dagster 1.13's OpExecutionContext has a
        # branch for it); its ``UserEvent`` annotation does not list the type.
        context.op_execution_context.log_event(evaluation)  # type: ignore[arg-type]
    actions = {str(e.partition): _action(e) for e in evaluations}
    errors = sorted(
        str(e.partition)
        for e in evaluations
        if RECHECK_VERDICT_KEY in e.metadata and e.metadata[RECHECK_VERDICT_KEY].value == "error"
    )
    rollbacks = sorted(m for m, a in actions.items() if a == "rollback")
    return dg.AssetCheckResult(
        passed=not errors,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(evaluations)} production model(s) re-checked"
            + (f"; rollback: {', '.join(rollbacks)}" if rollbacks else "")
            + (f"; not judged: {', '.join(errors)}" if errors else "")
        ),
        metadata={
            "models": len(evaluations),
            "rollback": len(rollbacks),
            "notify": sum(a == "notify" for a in actions.values()),
            "errors": len(errors),
        },
    )


def record_request(
    evaluations: Sequence[dg.AssetCheckEvaluation], *, run_key: str, trigger: str
) -> dg.RunRequest:
    """The checks-only run that records ``evaluations`` (one per tick: ``run_key``)."""
    return dg.RunRequest(
        run_key=run_key,
        asset_check_keys=[FLEET_RECHECK_KEY],
        run_config={
            "ops": {
                FLEET_RECHECK_OP: {
                    "config": {"evaluations": [dg.serialize_value(e) for e in evaluations]}
                }
            }
        },
        tags={TAG_TRIGGER: trigger},
    )
