"""SLOs as Prometheus rules: recording rules and multiwindow, multi-burn-rate alerts.

From an environment's ``slo:`` block and its models' overrides this module generates the rule
groups Prometheus evaluates continuously (Google SRE workbook, "Alerting on SLOs"):

* **recording rules** ``llm_slo:sli_error:ratio_rate<window>`` -- the *bad-events ratio* of
  each budget objective per model and revision over every alert window, labelled
  ``objective``, ``environment`` and ``profile`` (the metric profile whose series it reads).
  Availability: ``1 - avg_over_time(up)``; error rate: failed / total requests; a p95
  objective (``latency_p95_ms``, ...): the fraction of requests slower than the threshold, when
  the threshold is a bucket edge of the profile's histogram (label ``threshold``), with a
  budget of ``1 - 0.95`` -- otherwise it has no rule (:func:`rule_budget`);
* **alerts** ``LLM<Objective>BudgetBurn``: the burn rate (bad ratio / budget) exceeds a tier's
  factor over its long *and* its short window. Tiers: the page alerts of
  :data:`llm_platform.slo.budgets.BURN_ALERTS` (14.4x over 1h & 5m, 6x over 6h & 30m) and two
  ticket tiers for slow burns (3x over 1d & 2h, 1x over 3d & 6h). Labels: ``severity``
  (page | ticket), ``action`` (the platform's reaction: rollback | notify | none),
  ``environment``, ``objective``, the windows and factor; ``model``, ``revision`` and
  ``namespace`` come from the series.

A model whose threshold differs from the environment's gets its own alerts (selecting
``model="<name>"``); the environment's alert covers every other model (``model!~"..."``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from llm_platform.common.durations import duration_seconds
from llm_platform.slo.budgets import BURN_ALERTS, Action
from llm_platform.slo.fleet import REVISION_LABEL
from llm_platform.slo.objectives import OBJECTIVES, Objective, Thresholds
from llm_platform.slo.profiles import (
    DEFAULT_PROFILE,
    LATENCY_QUANTILE,
    MetricProfile,
    Scope,
    quote_label_value,
    selector,
)

#: Prefix of the recorded bad-events ratios; the window is appended (``..._rate5m``).
RECORD_PREFIX = "llm_slo:sli_error:ratio_rate"
OBJECTIVE_LABEL, ENV_LABEL, PROFILE_LABEL, THRESHOLD_LABEL = (
    "objective",
    "environment",
    "profile",
    "threshold",
)
SEVERITY_LABEL, ACTION_LABEL, MODEL_LABEL = "severity", "action", "model"
#: Evaluation interval of the group holding the windows longer than an hour.
SLOW_GROUP_INTERVAL = "1m"
Severity = Literal["page", "ticket"]


@dataclass(frozen=True)
class RuleTier:
    """One multiwindow alert tier: burn rate above ``factor`` over ``long`` and ``short``."""

    factor: float
    long: str
    short: str
    severity: Severity
    action: Action
    for_: str


#: ``for:`` of the page tiers: the short window already proves the burn is still going on.
_PAGE_FOR = {"fast_burn": "1m", "slow_burn": "5m"}
TIERS: tuple[RuleTier, ...] = (
    *(
        RuleTier(a.factor, a.long, a.short, "page", a.action, _PAGE_FOR[a.name])
        for a in BURN_ALERTS
    ),
    RuleTier(3.0, "1d", "2h", "ticket", "none", "15m"),
    RuleTier(1.0, "3d", "6h", "ticket", "none", "1h"),
)
#: Every window a tier reads, shortest first.
WINDOWS: tuple[str, ...] = tuple(
    sorted({w for t in TIERS for w in (t.long, t.short)}, key=duration_seconds)
)


@dataclass(frozen=True)
class _AlertSpec:
    """One objective's alerts for a set of series: exact matchers, excluded models, budget."""

    matchers: dict[str, str]
    exclude: str | None
    objective: Objective
    threshold: float
    budget: float


@dataclass(frozen=True)
class RulesTarget:
    """One model as the rules see it: its metric profile and effective objectives."""

    profile: MetricProfile
    objectives: Thresholds


def record_name(window: str) -> str:
    """The recorded bad-events ratio over ``window``."""
    return f"{RECORD_PREFIX}{window}"


def _edge(objective: Objective, threshold: float, profile: MetricProfile) -> float | None:
    if objective.histogram is None:
        return None
    seconds = threshold / objective.scale
    edges = profile.buckets.get(objective.histogram(profile), ())
    return next((e for e in edges if abs(e - seconds) <= 1e-9 * max(1.0, e)), None)


def rule_budget(objective: Objective, threshold: float, profile: MetricProfile) -> float | None:
    """The allowed bad-events fraction of ``objective`` at ``threshold`` (None: no rule)."""
    if objective.budget == "good":
        return 1.0 - threshold
    if objective.budget == "bad":
        return threshold
    if _edge(objective, threshold, profile) is not None:
        return 1.0 - LATENCY_QUANTILE
    return None


def _le_matcher(edge: float) -> str:
    """``le`` as the exporters print it: ``2.0`` (Python, Go) or ``2``."""
    forms = {repr(float(edge)), f"{edge:g}"}
    return "|".join(sorted(re.escape(f) for f in forms))


def bad_ratio(objective: Objective, threshold: float, scope: Scope) -> str:
    """PromQL of the bad-events ratio of ``objective`` in ``scope`` (labels kept)."""
    profile = scope.profile
    if objective.budget == "bad":
        expr = objective.promql(scope)
    elif objective.budget == "good":
        expr = f"1 - {objective.promql(scope)}"
    else:
        edge = _edge(objective, threshold, profile)
        if edge is None or objective.histogram is None:
            raise ValueError(f"{objective.name} {threshold:g}: not a bucket edge of {profile.name}")
        bucket, ml = f"{objective.histogram(profile)}_bucket", profile.model_label
        within = scope.select(ml, {}, {"le": _le_matcher(edge)})
        total = scope.select(ml, {"le": "+Inf"})
        fast = f"sum{scope.by_model} (rate({bucket}{within}[{scope.window}]))"
        every = f"sum{scope.by_model} (rate({bucket}{total}[{scope.window}]))"
        expr = f"1 - ({fast} / {every})"
    label = profile.up_model_label if objective.samples == "up" else profile.model_label
    if label != MODEL_LABEL:
        expr = f'label_replace({expr}, "{MODEL_LABEL}", "$1", "{label}", "(.*)")'
    return expr


def _series(
    env: str, objective: Objective, profile: MetricProfile, threshold: float
) -> dict[str, str]:
    labels = {OBJECTIVE_LABEL: objective.name, ENV_LABEL: env, PROFILE_LABEL: profile.name}
    if objective.budget is None:
        labels[THRESHOLD_LABEL] = f"{threshold:g}"
    return labels


def _alert(env: str, spec: _AlertSpec, tier: RuleTier) -> dict[str, Any]:
    objective, threshold, budget, exact = spec.objective, spec.threshold, spec.budget, spec.matchers
    matchers = selector(exact)[:-1] + (
        f",{MODEL_LABEL}!~{quote_label_value(spec.exclude)}}}" if spec.exclude else "}"
    )
    limit = f"({tier.factor:g} * {budget:.6g})"
    expr = (
        f"({record_name(tier.long)}{matchers} > {limit}) "
        f"and ({record_name(tier.short)}{matchers} > {limit})"
    )
    what = f"{objective.label} (objective {threshold:g}{objective.suffix})"
    return {
        "alert": "LLM" + "".join(p.capitalize() for p in objective.name.split("_")) + "BudgetBurn",
        "expr": expr,
        "for": tier.for_,
        "labels": {
            SEVERITY_LABEL: tier.severity,
            ACTION_LABEL: tier.action,
            ENV_LABEL: env,
            OBJECTIVE_LABEL: objective.name,
            "long_window": tier.long,
            "short_window": tier.short,
            "burn_rate": f"{tier.factor:g}",
            **{k: exact[k] for k in (PROFILE_LABEL, MODEL_LABEL) if k in exact},
        },
        "annotations": {
            "summary": f"{{{{ $labels.model }}}} (revision {{{{ $labels.revision }}}}) in {env}: "
            f"{what} burns its error budget faster than {tier.factor:g}x over {tier.long} "
            f"and {tier.short}",
            "description": f"Bad-events ratio over {tier.long}: {{{{ $value | "
            f"humanizePercentage }}}} (budget {budget:.4g}, alert above "
            f"{tier.factor * budget:.4g}); platform action: {tier.action}.",
        },
    }


def generate_rules(
    env: str,
    namespace: str,
    defaults: Thresholds,
    targets: Mapping[str, RulesTarget],
    *,
    only: str | None = None,
) -> dict[str, Any]:
    """The rule groups (``{"groups": [...]}``) of environment ``env``.

    Args:
        env: Environment name (label ``environment`` on every rule).
        namespace: The environment's namespace (every selector is scoped to it).
        defaults: The environment's ``slo:`` objectives.
        targets: The models of the repo (profile + effective objectives).
        only: Generate the rules of this model alone, every rule selecting it (a model's own
            ``PrometheusRule`` on Kubernetes); None: the whole environment.

    Raises:
        ValueError: ``only`` is not among ``targets``, or an invalid label or duration.
    """
    if only is not None and only not in targets:
        raise ValueError(f"model {only!r} is not among the models of the repo")
    chosen = {only: targets[only]} if only else dict(targets)
    profiles = {t.profile.name: t.profile for t in chosen.values()}
    if only is None:
        profiles.setdefault(DEFAULT_PROFILE.name, DEFAULT_PROFILE)
    # What to record per profile (objective, threshold) and which alerts to raise.
    recorded: dict[str, dict[tuple[str, float], tuple[Objective, float]]] = {
        p: {} for p in profiles
    }
    alerts: list[_AlertSpec] = []

    def want(
        objective: Objective,
        threshold: float,
        profile: MetricProfile,
        model: str | None = None,
        exclude: str | None = None,
    ) -> None:
        budget = rule_budget(objective, threshold, profile)
        if budget is None:
            return
        key = (objective.name, 0.0 if objective.budget else threshold)
        recorded[profile.name][key] = (objective, threshold)
        matchers = _series(env, objective, profile, threshold)
        if model is not None:
            matchers[MODEL_LABEL] = model
        alerts.append(_AlertSpec(matchers, exclude, objective, threshold, budget))

    for objective in OBJECTIVES:
        base = defaults.threshold(objective)
        own = {m: t.objectives.threshold(objective) for m, t in chosen.items()}
        differs = sorted(m for m, v in own.items() if v is not None and (only or v != base))
        if base is not None and only is None:
            pattern = "|".join(re.escape(m) for m in differs) or None
            for profile in profiles.values():
                want(objective, base, profile, exclude=pattern)
        for model in differs:
            value = own[model]
            assert value is not None
            want(objective, value, chosen[model].profile, model=model)

    return {"groups": _groups(env, namespace, recorded, profiles, alerts, only)}


def _groups(
    env: str,
    namespace: str,
    recorded: dict[str, dict[tuple[str, float], tuple[Objective, float]]],
    profiles: dict[str, MetricProfile],
    alerts: list[_AlertSpec],
    only: str | None,
) -> list[dict[str, Any]]:
    prefix = f"llm-slo-{env}" + (f"-{only}" if only else "")
    fast: list[dict[str, Any]] = []
    slow: list[dict[str, Any]] = []
    for pname, wanted in recorded.items():
        profile = profiles[pname]
        for objective, threshold in wanted.values():
            for window in WINDOWS:
                scope = Scope(
                    profile,
                    namespace=namespace,
                    window=window,
                    model=only,
                    group=(REVISION_LABEL,),
                    keep_labels=True,
                )
                rule = {
                    "record": record_name(window),
                    "expr": bad_ratio(objective, threshold, scope),
                    "labels": _series(env, objective, profile, threshold),
                }
                short = duration_seconds(window) <= duration_seconds("1h")
                (fast if short else slow).append(rule)
    groups: list[dict[str, Any]] = [{"name": f"{prefix}-ratios", "rules": fast}]
    groups.append({"name": f"{prefix}-ratios-long", "interval": SLOW_GROUP_INTERVAL, "rules": slow})
    rules = [_alert(env, spec, tier) for spec in alerts for tier in TIERS]
    groups.append({"name": f"{prefix}-burn-alerts", "rules": rules})
    return [g for g in groups if g["rules"]]


def rules_yaml(doc: dict[str, Any]) -> str:
    """A rule file's text (the CLI prints it, the embedded Prometheus loads it)."""
    return yaml.safe_dump(doc, sort_keys=False, width=100)
