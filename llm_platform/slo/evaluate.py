"""SLO verdicts: turn query answers into pass / fail / inconclusive, per objective and overall.

Rules (fail closed): no data, NaN (0/0) or fewer than ``min_requests`` requests in the window is
``inconclusive`` -- never ``pass``. Prometheus errors propagate as :class:`PrometheusError`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from llm_platform.config import SLOObjectives
from llm_platform.slo.profiles import DEFAULT_PROFILE, MetricProfile, QuerySet, build_queries
from llm_platform.slo.prom import InstantQueryClient, PrometheusError, PromSample

Verdict = Literal["pass", "fail", "inconclusive"]
ObjectiveName = Literal["availability", "latency_p95", "error_rate"]


class ObjectiveResult(BaseModel):
    """The outcome of one objective: the query, what it observed and why it passed or not."""

    model_config = ConfigDict(frozen=True)

    name: ObjectiveName
    query: str
    window: str
    value: float | None
    threshold: float
    samples: float | None
    verdict: Verdict
    reason: str


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


class Observations(BaseModel):
    """Raw answers for one model; None means the query returned no series for it."""

    requests: float | None = None
    latency_p95_s: float | None = None
    error_rate: float | None = None
    availability: float | None = None
    availability_samples: float | None = None


def _num(value: float | None) -> str:
    return "none" if value is None else f"{value:.6g}"


def _traffic_gate(obs: Observations, objectives: SLOObjectives) -> str | None:
    """Why traffic-based objectives cannot be judged, or None when there is enough traffic."""
    window, need = objectives.window, objectives.min_requests
    if obs.requests is None or math.isnan(obs.requests):
        return f"no requests recorded in the last {window} (need >= {need})"
    if obs.requests < need:
        return f"only {obs.requests:.0f} requests in the last {window} (need >= {need})"
    return None


def judge(obs: Observations, objectives: SLOObjectives, queries: QuerySet) -> list[ObjectiveResult]:
    """Apply the verdict rules to one model's observations.

    Args:
        obs: What Prometheus answered for the model.
        objectives: Thresholds, window and minimum request count.
        queries: The queries that produced ``obs`` (recorded in each result).

    Returns:
        Results for availability, latency_p95 and error_rate, in that order.
    """
    window = objectives.window
    results = []
    avail = obs.availability
    if avail is None or math.isnan(avail):
        verdict: Verdict = "inconclusive"
        reason = f"no up series for the model in the last {window}"
    elif avail >= objectives.availability:
        verdict, reason = "pass", f"availability {avail:.6g} >= {objectives.availability:g}"
    else:
        verdict, reason = "fail", f"availability {avail:.6g} < {objectives.availability:g}"
    results.append(
        ObjectiveResult(
            name="availability",
            query=queries.availability,
            window=window,
            value=avail,
            threshold=objectives.availability,
            samples=obs.availability_samples,
            verdict=verdict,
            reason=reason,
        )
    )
    gate = _traffic_gate(obs, objectives)
    p95_ms = None if obs.latency_p95_s is None else obs.latency_p95_s * 1000.0
    traffic: list[tuple[ObjectiveName, str, float | None, float, str]] = [
        ("latency_p95", queries.latency_p95, p95_ms, objectives.latency_p95_ms, "p95 latency"),
        ("error_rate", queries.error_rate, obs.error_rate, objectives.error_rate, "error rate"),
    ]
    for name, query, value, threshold, label in traffic:
        unit = " ms" if name == "latency_p95" else ""
        if gate is not None:
            verdict, reason = "inconclusive", gate
        elif value is None:
            verdict, reason = "inconclusive", f"no data for {label} in the last {window}"
        elif math.isnan(value):
            verdict, reason = "inconclusive", f"{label} is undefined (NaN) in the last {window}"
        elif value <= threshold:
            verdict, reason = "pass", f"{label} {value:.6g}{unit} <= {threshold:g}{unit}"
        else:
            verdict, reason = "fail", f"{label} {value:.6g}{unit} > {threshold:g}{unit}"
        results.append(
            ObjectiveResult(
                name=name,
                query=query,
                window=window,
                value=value,
                threshold=threshold,
                samples=obs.requests,
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
    objectives: SLOObjectives,
    profile: MetricProfile = DEFAULT_PROFILE,
    extra_labels: dict[str, str] | None = None,
    at: datetime | None = None,
    env: str | None = None,
) -> SLOVerdict:
    """Evaluate one model's SLOs with five instant queries at ``at`` (default: now).

    Args:
        client: Prometheus client (raises ``PrometheusError`` when it cannot answer).
        model: Model name (exact label match).
        namespace: Kubernetes namespace (exact label match).
        objectives: Thresholds and window, e.g. from ``effective_slo``.
        profile: Metric names to query.
        extra_labels: Extra exact matchers, e.g. ``{"revision": "canary"}``.
        at: Evaluation instant.
        env: Environment name recorded in the verdict (defaults to ``namespace``).

    Returns:
        The verdict, with every query, value, threshold, sample count and reason.

    Raises:
        PrometheusError: Prometheus is unreachable or rejected a query.
    """
    at = at or datetime.now(UTC)
    queries = build_queries(
        profile,
        namespace=namespace,
        window=objectives.window,
        model=model,
        extra_labels=extra_labels,
    )
    obs = Observations(
        requests=_single(client.query(queries.requests, at=at), "requests"),
        latency_p95_s=_single(client.query(queries.latency_p95, at=at), "latency_p95"),
        error_rate=_single(client.query(queries.error_rate, at=at), "error_rate"),
        availability=_single(client.query(queries.availability, at=at), "availability"),
        availability_samples=_single(
            client.query(queries.availability_samples, at=at), "availability samples"
        ),
    )
    return make_verdict(model, env or namespace, namespace, obs, objectives, queries, at)


def make_verdict(
    model: str,
    env: str,
    namespace: str,
    obs: Observations,
    objectives: SLOObjectives,
    queries: QuerySet,
    at: datetime,
) -> SLOVerdict:
    """Build the full verdict for one model from its observations."""
    results = judge(obs, objectives, queries)
    verdict, reason = overall(results)
    return SLOVerdict(
        model=model,
        env=env,
        namespace=namespace,
        verdict=verdict,
        reason=reason,
        objectives=results,
        evaluated_at=at,
    )
