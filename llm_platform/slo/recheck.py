"""The production re-check: one decision per model from its window verdict and error budget.

What a production re-check does with a model (the same rule whether the scheduled fleet tick or
a checks-only run evaluated it):

* ``rollback`` -- an objective *without* an error budget (latency, TTFT, TPOT) fails over the
  window, or a budget burns fast (:data:`llm_platform.slo.budgets.BURN_ALERTS`);
* ``notify`` -- a budget burns slowly: someone should look, nothing is rolled back;
* ``none`` -- otherwise. An objective *with* a budget (availability, error rate) that misses its
  threshold over the window alone does not roll back: its budget decides how fast it burns.
  Inconclusive (no data, too little traffic) never acts.

:func:`evaluate_production_fleet` evaluates many models with a constant number of queries:
the window objectives grouped by model and revision (:func:`evaluate_fleet`) plus one query per
budget objective (:func:`evaluate_budgets`).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from llm_platform.common.durations import duration_seconds
from llm_platform.slo.budgets import (
    Action,
    BudgetThresholds,
    BudgetVerdict,
    evaluate_budgets,
)
from llm_platform.slo.evaluate import SLOVerdict
from llm_platform.slo.fleet import evaluate_fleet
from llm_platform.slo.objectives import BY_NAME
from llm_platform.slo.profiles import MetricProfile
from llm_platform.slo.prom import InstantQueryClient

#: The asset check on production that records each re-check's decision and its numbers.
RECHECK_CHECK = "slo_recheck"
#: Metadata keys of an ``slo_recheck`` result: what it asks for, and the SLOs' verdict.
RECHECK_ACTION_KEY, RECHECK_VERDICT_KEY = "action", "slo_verdict"


class RecheckOutcome(BaseModel):
    """One model's re-check: what to do, why, and the evidence."""

    model_config = ConfigDict(frozen=True)

    model: str
    action: Action
    reason: str
    slo: SLOVerdict
    budget: BudgetVerdict


@dataclass(frozen=True)
class RecheckTarget:
    """What the re-check needs to know about one production model."""

    model: str
    namespace: str
    revision: str
    profile: MetricProfile
    objectives: BudgetThresholds


def decide(slo: SLOVerdict, budget: BudgetVerdict) -> tuple[Action, str]:
    """The re-check's action and reason (see the module docstring)."""
    window_fails = [
        f"{r.name}: {r.reason}"
        for r in slo.objectives
        if r.verdict == "fail" and BY_NAME[r.name].budget is None
    ]
    if budget.action == "rollback" or window_fails:
        reasons = window_fails + ([budget.reason] if budget.action == "rollback" else [])
        return "rollback", "; ".join(reasons)
    if budget.action == "notify":
        return "notify", budget.reason
    return "none", f"SLO window: {slo.verdict} ({slo.reason}); error budget: {budget.reason}"


def outcome(slo: SLOVerdict, budget: BudgetVerdict) -> RecheckOutcome:
    """Bundle one model's evidence with its decision."""
    action, reason = decide(slo, budget)
    return RecheckOutcome(model=slo.model, action=action, reason=reason, slo=slo, budget=budget)


def evaluate_production_fleet(
    client: InstantQueryClient,
    targets: list[RecheckTarget],
    *,
    env: str,
    at: datetime | None = None,
) -> dict[str, RecheckOutcome]:
    """Re-check every target with one query set per (namespace, metric profile) group.

    Raises:
        PrometheusError: Prometheus is unreachable or rejected a query.
    """
    at = at or datetime.now(UTC)
    # A deployment that recorded no revision is judged on all its series, as a single check
    # without a revision matcher would (one more query set, only when such models exist).
    groups: dict[tuple[str, str, bool], list[RecheckTarget]] = defaultdict(list)
    for target in targets:
        groups[(target.namespace, target.profile.name, bool(target.revision))].append(target)
    out: dict[str, RecheckOutcome] = {}
    for (namespace, _, by_revision), members in groups.items():
        profile = members[0].profile
        objectives = {t.model: t.objectives for t in members}
        slo = evaluate_fleet(
            client,
            namespace=namespace,
            objectives_by_model=objectives,
            profile=profile,
            at=at,
            env=env,
            revisions={t.model: t.revision for t in members} if by_revision else None,
        )
        budgets = evaluate_budgets(
            client,
            namespace=namespace,
            objectives_by_model=objectives,
            profile=profile,
            at=at,
            env=env,
        )
        for target in members:
            out[target.model] = outcome(slo[target.model], budgets[target.model])
    return out


def outcome_metadata(result: RecheckOutcome) -> dict[str, float | str]:
    """Flat, numeric-where-possible metadata (the UI plots numbers per partition over time)."""
    meta: dict[str, float | str] = {
        RECHECK_ACTION_KEY: result.action,
        RECHECK_VERDICT_KEY: result.slo.verdict,
        "budget_status": result.budget.status,
        "budget_period": result.budget.budget_period,
    }
    for r in result.slo.objectives:
        meta[f"{r.name}_verdict"] = r.verdict
        if r.value is not None:
            meta[f"{r.name}_value"] = r.value
    for b in result.budget.objectives:
        for window, rate in b.burn_rates.items():
            if rate is not None:  # an infinite rate (a zero budget) is shown as text
                key = f"{b.name}_burn_rate_{window}"
                meta[key] = rate if math.isfinite(rate) else str(rate)
        if b.budget_remaining is not None:
            meta[f"{b.name}_budget_remaining"] = b.budget_remaining
    return meta


def soaking(
    verdict: SLOVerdict,
    decision: RecheckOutcome | None,
    deployed_at: float,
    window: str,
    *,
    now: float | None = None,
) -> str | None:
    """Why a production verdict is not judged yet (None: it is).

    A revision younger than the SLO window whose verdict is inconclusive (too little traffic
    so far) and whose budgets ask for nothing has no evidence yet: reporting that as a failed
    check right after a promotion would be noise. A verdict reached early (a fast burn, a
    failing latency) is judged at once.
    """
    if decision is None or verdict.verdict != "inconclusive" or decision.action != "none":
        return None
    age = (time.time() if now is None else now) - deployed_at
    window_s = duration_seconds(window)
    if deployed_at <= 0 or age >= window_s:
        return None
    return f"inconclusive: soaking (serving {age:.0f} s of the {window} window)"
