"""SLO verdicts as Dagster check results: one definition for checks-only runs and the fleet tick.

A check run yields :class:`dagster.AssetCheckResult`; the scheduled fleet re-check records the
same outcome as a run-less :class:`dagster.AssetCheckEvaluation` on the model's partition,
aimed at the production materialization it judged (so the UI shows it per partition and the
rollback sensor reads both alike).
"""

from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg

from assets.check_history import evaluation_target
from assets.names import SLO_CHECKS
from llm_platform.common.durations import duration_seconds
from llm_platform.common.ui_numbers import MAX_CHECK_DESCRIPTION, round_sig
from llm_platform.slo import OBJECTIVES, SLOVerdict
from llm_platform.slo.deployment_check import DeploymentCheck, SLOsUnavailable
from llm_platform.slo.objectives import BY_NAME
from llm_platform.slo.recheck import (
    RECHECK_ACTION_KEY,
    RECHECK_CHECK,
    RECHECK_VERDICT_KEY,
    RecheckOutcome,
    outcome_metadata,
)

#: The ``verdict`` metadata of an objective the model's ``slo:`` does not set.
NOT_CONFIGURED = "not_configured"

#: Checks reported when the model's objectives cannot be read: those every model has.
ALWAYS = tuple(o.check_name for o in OBJECTIVES if o.default is not None)


def soak_metadata(verdict: SLOVerdict) -> dict[str, Any]:
    """How long the revision has served, and how long it must (numeric, seconds)."""
    if verdict.min_soak is None:
        return {}
    meta: dict[str, Any] = {"min_soak_seconds": duration_seconds(verdict.min_soak)}
    if verdict.soak_seconds is not None:
        meta["soak_seconds"] = round(verdict.soak_seconds, 1)
    return meta


def objective_results(
    asset: str, verdict: SLOVerdict, extra: dict[str, Any], *, production: bool
) -> Iterator[dg.AssetCheckResult]:
    """One result per configured objective. In production an objective with an error budget
    reports a window breach as a warning: its burn rate (``slo_recheck``) decides the action."""
    for obj in verdict.objectives:
        meta: dict[str, Any] = {
            "verdict": obj.verdict,
            "threshold": obj.threshold,
            "window": obj.window,
            "query": dg.MetadataValue.md(f"```promql\n{obj.query}\n```"),
            **extra,
        }
        if obj.value is not None:
            meta["value"] = round_sig(obj.value, 4)
        if obj.samples is not None:
            meta["samples"] = obj.samples
        budgeted = production and BY_NAME[obj.name].budget is not None
        # Not soaked yet: held (never passed) but shown as a warning, not as a failure.
        soak = obj.verdict == "inconclusive" and verdict.soaking
        yield dg.AssetCheckResult(
            asset_key=asset,
            check_name=SLO_CHECKS[obj.name],
            passed=obj.verdict == "pass",
            severity=dg.AssetCheckSeverity.WARN
            if budgeted or soak
            else dg.AssetCheckSeverity.ERROR,
            description=f"inconclusive: soaking: {obj.reason}" if soak else obj.reason,
            metadata=meta,
        )


def not_configured(
    context: dg.AssetCheckExecutionContext,
    asset: str,
    model: str,
    env_name: str,
    configured_checks: set[str],
    extra: dict[str, Any],
) -> Iterator[dg.AssetCheckResult]:
    """A passed result, "not configured", for each selected objective check the model's
    effective ``slo:`` does not set (an optional one, e.g. ``tpot_p95_ms``): it does not block
    and is not shown as failed."""
    selected = {k.name for k in context.selected_asset_check_keys if k.asset_key.path == [asset]}
    for obj in OBJECTIVES:
        if obj.check_name in configured_checks or obj.check_name not in selected:
            continue
        yield dg.AssetCheckResult(
            asset_key=asset,
            check_name=obj.check_name,
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"not configured: the slo: of {model} in {env_name} sets no {obj.key}",
            metadata={"verdict": NOT_CONFIGURED, **extra},
        )


def failed_all(
    asset: str, reason: str, extra: dict[str, Any], checks: Sequence[str] = ALWAYS
) -> Iterator[dg.AssetCheckResult]:
    """Every check in ``checks`` failed with ``reason`` (verdict ``error``: never acts)."""
    for check in checks:
        yield dg.AssetCheckResult(
            asset_key=asset,
            check_name=check,
            passed=False,
            description=reason,
            metadata={"verdict": "error", **extra},
        )


def check_results(
    asset: str,
    found: DeploymentCheck | SLOsUnavailable,
    extra: dict[str, Any],
    configured_checks: Sequence[str],
    *,
    production: bool,
) -> Iterator[dg.AssetCheckResult]:
    """The results of a checks-only run: one per configured objective (plus ``slo_recheck`` in
    production); all failed when Prometheus could not answer; none while not judged yet (the
    checks show as not executed)."""
    if isinstance(found, SLOsUnavailable):
        checks = [*configured_checks, *([RECHECK_CHECK] if production else [])]
        yield from failed_all(asset, f"Prometheus error (gate held): {found.error}", extra, checks)
        return
    if found.not_judged:
        return
    extra = {**extra, **soak_metadata(found.verdict)}
    yield from objective_results(asset, found.verdict, extra, production=production)
    if found.decision is not None:
        yield recheck_result(asset, found.decision, extra)


def _recheck_fields(
    result: RecheckOutcome, extra: dict[str, Any]
) -> tuple[bool, dg.AssetCheckSeverity, dict[str, Any]]:
    severity = (
        dg.AssetCheckSeverity.ERROR if result.action == "rollback" else dg.AssetCheckSeverity.WARN
    )
    meta: dict[str, Any] = {**outcome_metadata(result), **extra}
    return result.action == "none", severity, meta


def recheck_result(
    asset: str, result: RecheckOutcome, extra: dict[str, Any]
) -> dg.AssetCheckResult:
    """The ``slo_recheck`` result of a checks-only run."""
    passed, severity, meta = _recheck_fields(result, extra)
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=RECHECK_CHECK,
        passed=passed,
        severity=severity,
        description=result.reason[:MAX_CHECK_DESCRIPTION],
        metadata=meta,
    )


def recheck_evaluation(
    asset: str,
    partition: str,
    result: RecheckOutcome | None,
    target: dg.EventLogRecord,
    extra: dict[str, Any],
    *,
    error: str | None = None,
) -> dg.AssetCheckEvaluation:
    """The ``slo_recheck`` evaluation the fleet tick records (``error``: Prometheus failed)."""
    if result is None:
        passed, severity = False, dg.AssetCheckSeverity.ERROR
        meta: dict[str, Any] = {RECHECK_ACTION_KEY: "none", RECHECK_VERDICT_KEY: "error", **extra}
        description = error or "not evaluated"
    else:
        passed, severity, meta = _recheck_fields(result, extra)
        description = result.reason[:MAX_CHECK_DESCRIPTION]
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(asset),
        check_name=RECHECK_CHECK,
        passed=passed,
        severity=severity,
        description=description,
        metadata=meta,
        partition=partition,
        target_materialization_data=evaluation_target(target),
    )
