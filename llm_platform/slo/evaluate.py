"""SLO verdicts: turn query answers into pass / fail / inconclusive, per objective and overall.

Which objectives exist, how they are measured and compared is declared in
:mod:`llm_platform.slo.objectives`; this module only applies the rules (fail closed): no data,
NaN (0/0) or fewer than ``min_requests`` requests in the window is ``inconclusive`` -- never
``pass``; so is every objective of a revision that has served for less than ``min_soak`` when
the caller asks for a soak (staging, :mod:`llm_platform.slo.soak`). Prometheus errors propagate
as :class:`PrometheusError`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from llm_platform.slo.objectives import (
    BY_NAME,
    Objective,
    QuerySet,
    Thresholds,
    build_queries,
    configured,
)
from llm_platform.slo.profiles import DEFAULT_PROFILE, MetricProfile
from llm_platform.slo.prom import InstantQueryClient, PrometheusError, PromSample
from llm_platform.slo.soak import soak_gate, soak_query, soaked_seconds

Verdict = Literal["pass", "fail", "inconclusive"]


class ObjectiveResult(BaseModel):
    """The outcome of one objective: the query, what it observed and why it passed or not."""

    model_config = ConfigDict(frozen=True)

    name: str
    query: str
    window: str
    value: float | None
    threshold: float
    samples: float | None
    verdict: Verdict
    reason: str

    @property
    def summary(self) -> str:
        """The result on one line under its check's name: ``slo_latency_p95 1975 ms > 1500 ms``,
        or ``slo_availability inconclusive: <reason>`` (commit statuses say this)."""
        objective = BY_NAME[self.name]
        if self.verdict == "inconclusive" or self.value is None:
            return f"{objective.check_name} inconclusive: {self.reason}"
        unit, sign = objective.suffix, objective.operator(self.verdict == "pass")
        return f"{objective.check_name} {self.value:.6g}{unit} {sign} {self.threshold:g}{unit}"


class SLOVerdict(BaseModel):
    """The overall SLO verdict of one model in one environment at one instant."""

    model_config = ConfigDict(frozen=True)

    model: str
    env: str
    namespace: str
    verdict: Verdict
    reason: str
    objectives: list[ObjectiveResult]
    evaluated_at: datetime
    min_soak: str | None = None
    soak_seconds: float | None = None

    @property
    def soaking(self) -> bool:
        """Held by the soak rule: ``min_soak`` was asked for and not served that long yet."""
        return self.min_soak is not None and soak_gate(self.soak_seconds, self.min_soak) is not None


class Observations(BaseModel):
    """Raw answers for one model (query units); None means the query returned no series."""

    requests: float | None = None
    availability_samples: float | None = None
    values: dict[str, float | None] = Field(default_factory=dict)
    started_at: float | None = None


def _traffic_gate(obs: Observations, objectives: Thresholds) -> str | None:
    """Why traffic-based objectives cannot be judged, or None when there is enough traffic."""
    window, need = objectives.window, objectives.min_requests
    if obs.requests is None or math.isnan(obs.requests):
        return f"no requests recorded in the last {window} (need >= {need})"
    if obs.requests < need:
        return f"only {obs.requests:.0f} requests in the last {window} (need >= {need})"
    return None


def judge_one(
    objective: Objective,
    threshold: float,
    raw: float | None,
    *,
    window: str,
    gate: str | None,
    soak: str | None = None,
) -> tuple[Verdict, str, float | None]:
    """One objective's verdict, reason and value (in the objective's unit).

    ``gate`` (too little traffic) holds traffic objectives; ``soak`` (not served long enough)
    holds every objective.
    """
    value = None if raw is None else raw * objective.scale
    label, unit = objective.label, objective.suffix
    if soak is not None:
        return "inconclusive", soak, value
    if objective.traffic and gate is not None:
        return "inconclusive", gate, value
    if value is None:
        what = "no up series for the model" if objective.samples == "up" else f"no data for {label}"
        return "inconclusive", f"{what} in the last {window}", value
    if math.isnan(value):
        return "inconclusive", f"{label} is undefined (NaN) in the last {window}", value
    ok = objective.met(value, threshold)
    sign = objective.operator(ok)
    reason = f"{label} {value:.6g}{unit} {sign} {threshold:g}{unit}"
    return ("pass" if ok else "fail"), reason, value


def judge(
    obs: Observations,
    objectives: Thresholds,
    queries: QuerySet,
    *,
    soak: str | None = None,
) -> list[ObjectiveResult]:
    """Apply the verdict rules to one model's observations.

    Args:
        obs: What Prometheus answered for the model.
        objectives: Thresholds, window and minimum request count.
        queries: The queries that produced ``obs`` (recorded in each result).
        soak: Why the revision has not soaked yet (holds every objective), or None.

    Returns:
        One result per configured objective, in registry order.
    """
    gate = _traffic_gate(obs, objectives)
    results = []
    for objective, threshold in configured(objectives):
        verdict, reason, value = judge_one(
            objective,
            threshold,
            obs.values.get(objective.name),
            window=objectives.window,
            gate=gate,
            soak=soak,
        )
        results.append(
            ObjectiveResult(
                name=objective.name,
                query=queries.objectives[objective.name],
                window=objectives.window,
                value=value,
                threshold=threshold,
                samples=obs.availability_samples if objective.samples == "up" else obs.requests,
                verdict=verdict,
                reason=reason,
            )
        )
    return results


def overall(results: Iterable[ObjectiveResult]) -> tuple[Verdict, str]:
    """Combine objective verdicts: any fail -> fail; else any inconclusive -> inconclusive."""
    results = list(results)
    verdicts: tuple[Verdict, ...] = ("fail", "inconclusive")
    for wanted in verdicts:
        hits = [r for r in results if r.verdict == wanted]
        if hits:
            return wanted, "; ".join(f"{r.name}: {r.reason}" for r in hits)
    return "pass", "all objectives met (" + ", ".join(r.name for r in results) + ")"


def _single(samples: list[PromSample], what: str) -> float | None:
    if not samples:
        return None
    if len(samples) > 1:
        # The queries aggregate to one series; more means the profile's labels are wrong.
        raise PrometheusError(f"{what}: expected one series, Prometheus returned {len(samples)}")
    return float(samples[0].value)


def evaluate(
    client: InstantQueryClient,
    *,
    model: str,
    namespace: str,
    objectives: Thresholds,
    profile: MetricProfile = DEFAULT_PROFILE,
    extra_labels: dict[str, str] | None = None,
    at: datetime | None = None,
    env: str | None = None,
    min_soak: str | None = None,
) -> SLOVerdict:
    """Evaluate one model's configured SLOs at ``at`` (default: now).

    Two queries (requests, ``up`` samples) plus one per configured objective, plus one for the
    soak when ``min_soak`` is given.

    Args:
        client: Prometheus client (raises ``PrometheusError`` when it cannot answer).
        model: Model name (exact label match).
        namespace: Kubernetes namespace (exact label match).
        objectives: Thresholds and window, e.g. from ``effective_slo``.
        profile: Metric names to query.
        extra_labels: Extra exact matchers, e.g. ``{"revision": "canary"}``.
        at: Evaluation instant.
        env: Environment name recorded in the verdict (defaults to ``namespace``).
        min_soak: Every objective is inconclusive until the series selected by ``model`` and
            ``extra_labels`` (the revision) has existed this long; None: no soak rule.

    Returns:
        The verdict, with every query, value, threshold, sample count and reason.

    Raises:
        PrometheusError: Prometheus is unreachable or rejected a query.
    """
    at = at or datetime.now(UTC)
    wanted = [o for o, _ in configured(objectives)]
    queries = build_queries(
        profile,
        namespace=namespace,
        window=objectives.window,
        model=model,
        extra_labels=extra_labels,
        objectives=wanted,
    )
    obs = Observations(
        requests=_single(client.query(queries.requests, at=at), "requests"),
        availability_samples=_single(
            client.query(queries.availability_samples, at=at), "availability samples"
        ),
        values={
            o.name: _single(client.query(queries.objectives[o.name], at=at), o.name) for o in wanted
        },
    )
    if min_soak is not None:
        query = soak_query(
            profile,
            namespace=namespace,
            min_soak=min_soak,
            model=model,
            extra_labels=extra_labels,
        )
        obs = obs.model_copy(update={"started_at": _single(client.query(query, at=at), "soak")})
    return make_verdict(
        model, env or namespace, namespace, obs, objectives, queries, at, min_soak=min_soak
    )


def make_verdict(
    model: str,
    env: str,
    namespace: str,
    obs: Observations,
    objectives: Thresholds,
    queries: QuerySet,
    at: datetime,
    *,
    min_soak: str | None = None,
) -> SLOVerdict:
    """Build the full verdict for one model from its observations (and its soak, if asked)."""
    soaked = soaked_seconds(obs.started_at, at)
    hold = None if min_soak is None else soak_gate(soaked, min_soak)
    results = judge(obs, objectives, queries, soak=hold)
    verdict, reason = overall(results)
    if hold is not None:
        reason = hold  # one reason for all objectives, not five copies
    return SLOVerdict(
        model=model,
        env=env,
        namespace=namespace,
        verdict=verdict,
        reason=reason,
        objectives=results,
        evaluated_at=at,
        min_soak=min_soak,
        soak_seconds=soaked,
    )
