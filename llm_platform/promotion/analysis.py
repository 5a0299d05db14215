"""Canary analysis: compare the canary revision with the stable one over a short window.

The canary passes only when it meets each configured objective of the SLO registry
(:mod:`llm_platform.slo.objectives`) that its metrics source measures AND, for the objectives
with a canary rule (error rate, the latencies), is not clearly worse than the stable revision
serving the same traffic at the same time. Too few canary requests (or no stable baseline) is
``inconclusive``, which rolls back: a canary is never promoted on no evidence.

That is the fixed-window rule of one look (:func:`analyze`). The canary strategy looks
repeatedly instead (:mod:`llm_platform.promotion.sequential`): the sequential judge
(:mod:`llm_platform.promotion.judge`) compares canary with stable, :func:`judge_canary` with
``relative=False`` keeps the absolute objectives.

Two metric sources answer the same question: :class:`PrometheusSource` (the SLO package's
queries scoped with ``revision=...`` over the window) and :class:`GatewayMetricsSource` (the
gateway's own ``/metrics`` counters diffed between the start and the end of the window).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Literal, Protocol

from pydantic import BaseModel, Field, field_validator

from llm_platform.promotion.judge import Judgement
from llm_platform.slo.objectives import BY_NAME, OBJECTIVES, Objective, Thresholds, configured

Verdict = Literal["pass", "fail", "inconclusive"]


def _default_objectives() -> dict[str, float]:
    # The registry's defaults: a canary without explicit thresholds is held to the objectives
    # an environment without an ``slo:`` block gets.
    return {o.name: o.default for o in OBJECTIVES if o.default is not None}


class CanaryThresholds(BaseModel):
    """What a canary must meet, absolutely and relative to the stable revision."""

    objectives: dict[str, float] = Field(
        default_factory=_default_objectives,
        description="objective name -> threshold, in the objective's unit (the SLO registry)",
    )
    min_requests: int = Field(default=20, ge=1, description="canary requests needed")
    error_rate_tolerance: float = Field(
        default=0.01, ge=0, le=1, description="canary may exceed the stable error rate by this"
    )
    latency_ratio: float = Field(default=1.5, ge=1, description="max canary/stable p95 ratio")
    latency_slack_ms: float = Field(
        default=50,
        ge=0,
        description="absolute slack (bucket resolution of tiny latencies): the fixed-window "
        "p95 rule allows stable + this; the sequential judge compares latency + this",
    )
    max_increase: float = Field(
        default=0.1,
        ge=0,
        description="sequential judge: tolerated increase of the canary's typical latency "
        "over stable's (fraction)",
    )
    confidence: float = Field(
        default=0.95, gt=0, lt=1, description="sequential judge: confidence of its verdicts"
    )

    @field_validator("objectives")
    @classmethod
    def _known(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(BY_NAME))
        if unknown:
            raise ValueError(f"unknown objectives {unknown}; known: {sorted(BY_NAME)}")
        return value

    @classmethod
    def from_objectives(cls, objectives: Thresholds, *, min_requests: int = 20) -> CanaryThresholds:
        """Thresholds from an environment's SLO objectives (``min_requests`` is per canary)."""
        return cls(
            objectives={o.name: t for o, t in configured(objectives)}, min_requests=min_requests
        )


class RevisionObservation(BaseModel):
    """What one revision did during the window (None: no data).

    ``values`` holds one measurement per objective name, in the objective's unit (ms for the
    latencies); an objective the source does not measure is absent.
    """

    revision: str
    requests: float | None
    failed: float | None
    values: dict[str, float | None] = Field(default_factory=dict)


class SampleSnapshot(BaseModel):
    """One revision's counters accumulated since ``begin``: requests, failures and, per
    latency objective, cumulative histogram buckets (``le`` in seconds -> count)."""

    revision: str
    requests: float | None = None
    failed: float | None = None
    buckets: dict[str, dict[float, float]] = Field(default_factory=dict)


class CanaryCheck(BaseModel):
    """One comparison of the analysis."""

    name: str
    verdict: Verdict
    canary: float | None
    stable: float | None
    threshold: float | None
    reason: str


class CanaryAnalysis(BaseModel):
    """The analysis verdict with every observation and check behind it.

    A sequential analysis (:mod:`llm_platform.promotion.sequential`) also records how many
    looks it took, the samples the judge used and its judgements (by check name).
    """

    verdict: Verdict
    reason: str
    source: str
    window_s: float
    canary: RevisionObservation
    stable: RevisionObservation
    checks: list[CanaryCheck]
    queries: list[str] = Field(default_factory=list)
    looks: int = 1
    judgements: dict[str, Judgement] = Field(default_factory=dict)


class AnalysisTarget(BaseModel):
    """Which deployment and revisions to compare."""

    env: str
    namespace: str = Field(description="the metrics' namespace label (the env name locally)")
    model: str
    canary: str
    stable: str


class MetricsSource(Protocol):
    """Observes two revisions over a window: ``begin`` at its start, ``collect`` at its end."""

    name: str
    #: names of the objectives this source measures (others are not judged by the canary)
    measures: frozenset[str]

    def begin(self, target: AnalysisTarget) -> None:
        """Mark the start of the window."""
        ...

    def collect(
        self, target: AnalysisTarget, window_s: float
    ) -> tuple[RevisionObservation, RevisionObservation, list[str]]:
        """(canary, stable, queries used) for the window that began at ``begin``."""
        ...


def _bad(value: float | None) -> bool:
    return value is None or math.isnan(value)


def finite_or_none(value: float | None) -> float | None:
    """NaN (0/0 in PromQL) is no data: None, which the checks treat as inconclusive."""
    return None if _bad(value) else value


def _fmt(value: float | None) -> str:
    return "none" if value is None else f"{value:.4g}"


def _compare(
    name: str,
    canary: float | None,
    stable: float | None,
    limit: float | None,
    what: str,
    *,
    blocked: str | None,
    at_least: bool = False,
) -> CanaryCheck:
    """One check: ``blocked`` (a reason) makes it inconclusive; else canary vs ``limit``."""
    reason = blocked
    if reason is None and (canary is None or math.isnan(canary)):
        reason = "no canary value in the window"
    if reason is None and limit is None:
        reason = "no stable value to compare with"
    if reason is not None or canary is None or limit is None:
        return CanaryCheck(
            name=name,
            verdict="inconclusive",
            canary=canary,
            stable=stable,
            threshold=limit,
            reason=reason or "no data",
        )
    ok = canary >= limit if at_least else canary <= limit
    op = (">=" if ok else "<") if at_least else ("<=" if ok else ">")
    return CanaryCheck(
        name=name,
        verdict="pass" if ok else "fail",
        canary=canary,
        stable=stable,
        threshold=limit,
        reason=f"canary {canary:.4g} {op} {what}",
    )


def _vs_stable(o: Objective, stable: float | None, t: CanaryThresholds) -> tuple[float | None, str]:
    """The limit a canary must stay within relative to stable, and how it was derived."""
    if _bad(stable) or stable is None:
        return None, "stable (no value)"
    if o.canary == "additive":
        return (
            stable + t.error_rate_tolerance,
            f"stable {_fmt(stable)} + {t.error_rate_tolerance:g}",
        )
    limit = max(stable * t.latency_ratio, stable + t.latency_slack_ms)
    return limit, (
        f"{limit:.1f}{o.suffix} = max(stable {_fmt(stable)}{o.suffix} x {t.latency_ratio:g}, "
        f"+ {t.latency_slack_ms:g}{o.suffix})"
    )


def judge_canary(
    canary: RevisionObservation,
    stable: RevisionObservation,
    thresholds: CanaryThresholds,
    *,
    measured: Collection[str],
    relative: bool = True,
) -> tuple[Verdict, str, list[CanaryCheck]]:
    """Apply the canary rules; any fail -> fail, else any inconclusive -> inconclusive.

    Every objective in ``thresholds`` that the source measures gets an absolute check (named
    like the objective); objectives with a canary rule in the registry also get a
    ``<name>_vs_stable`` check (the fixed-window rule) unless ``relative`` is False (the
    sequential analysis, whose judge compares with stable instead).

    Args:
        canary: the canary's observations over the window.
        stable: the stable revision's observations over the same window.
        thresholds: objectives and tolerances.
        measured: names of the objectives the metrics source measures.

    Returns:
        (overall verdict, reason naming the failing or inconclusive checks, every check).
    """
    t = thresholds
    n = canary.requests
    enough = not _bad(n) and (n or 0) >= t.min_requests
    gate = (
        None
        if enough
        else f"canary served {0 if _bad(n) else n:.0f} requests " + (f"(need >= {t.min_requests})")
    )
    baseline = None
    if _bad(stable.requests) or (stable.requests or 0) < t.min_requests:
        baseline = f"stable served too few requests to compare (need >= {t.min_requests})"
    checks = [
        CanaryCheck(
            name="canary_requests",
            verdict="pass" if enough else "inconclusive",
            canary=n,
            stable=stable.requests,
            threshold=t.min_requests,
            reason=gate or f"canary served {n:.0f} requests",
        )
    ]
    for o in OBJECTIVES:
        if o.name not in t.objectives or o.name not in measured:
            continue
        c_val, s_val = canary.values.get(o.name), stable.values.get(o.name)
        objective = t.objectives[o.name]
        at_least = o.comparison == "at_least"
        checks.append(
            _compare(
                o.name,
                c_val,
                s_val,
                objective,
                f"objective {objective:g}{o.suffix} ({o.label})",
                blocked=gate if o.traffic else None,
                at_least=at_least,
            )
        )
        if o.canary is not None and relative:
            limit, how = _vs_stable(o, s_val, t)
            checks.append(
                _compare(
                    f"{o.name}_vs_stable",
                    c_val,
                    s_val,
                    limit,
                    f"{how} ({o.label})",
                    blocked=gate or baseline,
                    at_least=at_least,
                )
            )
    for wanted in ("fail", "inconclusive"):
        hits = [c for c in checks if c.verdict == wanted]
        if hits:
            reason = "; ".join(f"{c.name}: {c.reason}" for c in hits)
            return ("fail" if wanted == "fail" else "inconclusive"), reason, checks
    return "pass", "canary meets every objective and is not worse than stable", checks


def analyze(
    source: MetricsSource,
    target: AnalysisTarget,
    thresholds: CanaryThresholds,
    window_s: float,
) -> CanaryAnalysis:
    """Collect the window's observations from ``source`` (after ``begin``) and judge them."""
    canary, stable, queries = source.collect(target, window_s)
    verdict, reason, checks = judge_canary(canary, stable, thresholds, measured=source.measures)
    return CanaryAnalysis(
        verdict=verdict,
        reason=reason,
        source=source.name,
        window_s=window_s,
        canary=canary,
        stable=stable,
        checks=checks,
        queries=queries,
    )
