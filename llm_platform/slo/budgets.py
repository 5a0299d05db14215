"""Error budgets: multiwindow, multi-burn-rate alerts for the production re-checks.

An objective with a budget (``Objective.budget``: availability and error rate) allows a bad
fraction of ``budget = 1 - threshold`` (availability) or ``threshold`` (error rate). Its *burn
rate* over a window is the bad fraction observed in that window divided by the budget: 1 spends
the budget exactly over ``budget_period``. An alert fires when the burn rate exceeds its factor
over both its long and its short window (Google SRE workbook, "Alerting on SLOs"): the long
window proves the burn is significant, the short one that it is still going on, so a brief spike
does not fire and an alert stops soon after recovery. The factors are burn rates, i.e. multiples
of the sustainable rate; 14.4 over 1 h spends 2 % and 6 over 6 h spends 5 % of a 30-day budget.

``budget_remaining`` is ``1 - burn rate over budget_period``: the share of the period's budget
left if the period's bad fraction so far stays as it is (negative: overspent). A window without
data (no ``up`` series; no requests, 0/0) has no burn rate and fires nothing.

Budgets are per model in a namespace, across revisions (the budget belongs to the service, and
the 5 m / 30 m windows already isolate what is serving now). Queries: one per budget objective,
every window in it (``label_replace(...) or ...``), grouped ``by (model)`` in fleet mode.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from llm_platform.common.durations import duration_seconds
from llm_platform.slo.objectives import Objective, Thresholds, configured
from llm_platform.slo.profiles import DEFAULT_PROFILE, MetricProfile, Scope
from llm_platform.slo.prom import InstantQueryClient, PrometheusError, PromSample

AlertName = Literal["fast_burn", "slow_burn"]
Action = Literal["rollback", "notify", "none"]
BudgetStatus = Literal["fast_burn", "slow_burn", "ok", "no_data"]

#: The label that carries the window in a budget query's result.
WINDOW_LABEL = "burn_window"
#: The asset check (production) that reports the burn-rate alerts.
BUDGET_CHECK = "slo_error_budget"


@dataclass(frozen=True)
class BurnAlert:
    """One burn-rate alert: fires when the burn rate exceeds ``factor`` over both windows."""

    name: AlertName
    factor: float
    long: str
    short: str
    action: Action


#: Most severe first: the first alert that fires decides the action.
BURN_ALERTS: tuple[BurnAlert, ...] = (
    BurnAlert("fast_burn", 14.4, "1h", "5m", "rollback"),
    BurnAlert("slow_burn", 6.0, "6h", "30m", "notify"),
)
#: The shortest budget period that makes sense: the longest alert window.
MIN_BUDGET_PERIOD = max((a.long for a in BURN_ALERTS), key=duration_seconds)


class BudgetThresholds(Thresholds, Protocol):
    """Resolved objectives with a budget period (``llm_platform.config.SLOObjectives``)."""

    @property
    def budget_period(self) -> str: ...


class ObjectiveBudget(BaseModel):
    """One objective's burn rates (by window), remaining budget and the alert that fired."""

    model_config = ConfigDict(frozen=True)

    name: str
    query: str
    budget: float
    burn_rates: dict[str, float | None]
    budget_remaining: float | None
    alert: AlertName | None
    reason: str


class BudgetVerdict(BaseModel):
    """A model's error-budget status: the most severe alert over its budget objectives."""

    model_config = ConfigDict(frozen=True)

    model: str
    env: str
    namespace: str
    budget_period: str
    status: BudgetStatus
    action: Action
    reason: str
    objectives: list[ObjectiveBudget]
    evaluated_at: datetime


def windows(budget_period: str) -> list[str]:
    """Every window the alerts and the remaining budget need, shortest first."""
    wanted = {w for a in BURN_ALERTS for w in (a.long, a.short)} | {budget_period}
    return sorted(wanted, key=duration_seconds)


def budget_objectives(objectives: Thresholds) -> list[tuple[Objective, float]]:
    """The configured objectives that define an error budget, with their thresholds."""
    return [(o, t) for o, t in configured(objectives) if o.budget is not None]


def budget_query(
    objective: Objective,
    profile: MetricProfile,
    *,
    namespace: str,
    budget_period: str,
    model: str | None = None,
) -> str:
    """One query answering ``objective`` over every window (label ``burn_window``).

    Raises:
        ValueError: On an invalid duration or label name.
    """
    parts = []
    for window in windows(budget_period):
        scope = Scope(profile, namespace=namespace, window=window, model=model)
        labelled = f'"{WINDOW_LABEL}", "{window}", "", ""'
        parts.append(f"label_replace({objective.promql(scope)}, {labelled})")
    return " or ".join(parts)


def burn_rate(objective: Objective, threshold: float, value: float | None) -> float | None:
    """The burn rate of one window's value (None: no data, or undefined)."""
    if value is None or math.isnan(value):
        return None
    bad = 1.0 - value if objective.budget == "good" else value
    budget = 1.0 - threshold if objective.budget == "good" else threshold
    bad = max(bad, 0.0)
    if budget <= 0:
        return math.inf if bad > 0 else 0.0
    return bad / budget


def judge_budget(
    objective: Objective, threshold: float, values: dict[str, float], *, query: str, period: str
) -> ObjectiveBudget:
    """Burn rates, remaining budget and the most severe firing alert of one objective."""
    rates = {w: burn_rate(objective, threshold, values.get(w)) for w in windows(period)}
    fired, why = None, []
    for alert in BURN_ALERTS:
        long, short = rates[alert.long], rates[alert.short]
        if long is not None and short is not None and min(long, short) > alert.factor:
            fired = alert.name
            why.append(
                f"{objective.label} burns its budget {long:.3g}x over {alert.long} and "
                f"{short:.3g}x over {alert.short} (> {alert.factor:g}x: {alert.name})"
            )
            break
    spent = rates[period]
    remaining = None if spent is None else 1.0 - spent
    if not why:
        known = {w: r for w, r in rates.items() if r is not None}
        why.append(
            f"{objective.label}: no data in any window"
            if not known
            else f"{objective.label} burn rates "
            + ", ".join(f"{w} {r:.3g}x" for w, r in known.items())
            + " (no alert)"
        )
    budget = 1.0 - threshold if objective.budget == "good" else threshold
    return ObjectiveBudget(
        name=objective.name,
        query=query,
        budget=budget,
        burn_rates=rates,
        budget_remaining=remaining,
        alert=fired,
        reason=why[0],
    )


def combine(results: Iterable[ObjectiveBudget]) -> tuple[BudgetStatus, Action, str]:
    """The model's status: the most severe alert of any objective, else ok (or no data)."""
    results = list(results)
    for alert in BURN_ALERTS:
        hits = [r for r in results if r.alert == alert.name]
        if hits:
            return alert.name, alert.action, "; ".join(r.reason for r in hits)
    if all(all(v is None for v in r.burn_rates.values()) for r in results):
        return "no_data", "none", "no data for any budget objective"
    return "ok", "none", "; ".join(r.reason for r in results) or "no budget objectives"


def _by_model_window(
    samples: list[PromSample], label: str | None, query: str
) -> dict[str | None, dict[str, float]]:
    out: dict[str | None, dict[str, float]] = defaultdict(dict)
    for sample in samples:
        window = sample.labels.get(WINDOW_LABEL)
        model = sample.labels.get(label) if label else None
        if window is None or (label and model is None):
            raise PrometheusError(f"budget query returned an unexpected series: {query}")
        if window in out[model]:
            raise PrometheusError(f"budget query returned two series for {model}/{window}")
        out[model][window] = sample.value
    return out


def evaluate_budgets(
    client: InstantQueryClient,
    *,
    namespace: str,
    objectives_by_model: dict[str, BudgetThresholds],
    profile: MetricProfile = DEFAULT_PROFILE,
    at: datetime | None = None,
    env: str | None = None,
    fleet: bool = True,
) -> dict[str, BudgetVerdict]:
    """Error-budget verdicts of models of one namespace.

    With ``fleet`` (default) one query per budget objective and distinct ``budget_period``
    answers every model (``by (model)``); without, each model is queried on its own (two
    queries per model) -- the same verdicts, used for a single model's check.

    Raises:
        PrometheusError: Prometheus is unreachable or rejected a query.
    """
    at = at or datetime.now(UTC)
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for model, objectives in objectives_by_model.items():
        names = tuple(o.name for o, _ in budget_objectives(objectives))
        key = (objectives.budget_period, *names) if fleet else (model,)
        groups[key].append(model)
    verdicts: dict[str, BudgetVerdict] = {}
    for models in groups.values():
        first = objectives_by_model[models[0]]
        period = first.budget_period
        answers: dict[str, tuple[str, dict[str | None, dict[str, float]]]] = {}
        for objective, _ in budget_objectives(first):
            query = budget_query(
                objective,
                profile,
                namespace=namespace,
                budget_period=period,
                model=None if fleet else models[0],
            )
            label = profile.up_model_label if objective.samples == "up" else profile.model_label
            samples = client.query(query, at=at)
            by_model = _by_model_window(samples, label if fleet else None, query)
            answers[objective.name] = (query, by_model)
        for model in models:
            results = [
                judge_budget(
                    o,
                    t,
                    answers[o.name][1].get(model if fleet else None, {}),
                    query=answers[o.name][0],
                    period=period,
                )
                for o, t in budget_objectives(objectives_by_model[model])
            ]
            status, action, reason = combine(results)
            verdicts[model] = BudgetVerdict(
                model=model,
                env=env or namespace,
                namespace=namespace,
                budget_period=period,
                status=status,
                action=action,
                reason=reason,
                objectives=results,
                evaluated_at=at,
            )
    return verdicts
