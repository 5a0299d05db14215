"""Canary analysis: compare the canary revision with the stable one over a short window.

The canary passes only when it meets the objectives on its own (error rate, p95 latency and,
where the source measures it, availability) AND is not clearly worse than the stable revision
serving the same traffic at the same time. Too few canary requests (or no stable baseline) is
``inconclusive``, which rolls back: a canary is never promoted on no evidence.

Two metric sources answer the same question: :class:`PrometheusSource` (the SLO package's
queries scoped with ``revision=...`` over the window) and :class:`GatewayMetricsSource` (the
gateway's own ``/metrics`` counters diffed between the start and the end of the window).
"""

from __future__ import annotations

import math
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from llm_platform.config import SLOObjectives

Verdict = Literal["pass", "fail", "inconclusive"]

#: The objectives' defaults live in the config schema; a canary without explicit thresholds
#: is held to the same ones an environment without an ``slo:`` block gets.
_SLO_DEFAULTS = SLOObjectives()


class CanaryThresholds(BaseModel):
    """What a canary must meet, absolutely and relative to the stable revision."""

    error_rate: float = Field(
        default=_SLO_DEFAULTS.error_rate, ge=0, le=1, description="objective (fraction)"
    )
    latency_p95_ms: float = Field(
        default=_SLO_DEFAULTS.latency_p95_ms, gt=0, description="objective"
    )
    availability: float = Field(
        default=_SLO_DEFAULTS.availability, gt=0, le=1, description="objective"
    )
    min_requests: int = Field(default=20, ge=1, description="canary requests needed")
    error_rate_tolerance: float = Field(
        default=0.01, ge=0, le=1, description="canary may exceed the stable error rate by this"
    )
    latency_ratio: float = Field(default=1.5, ge=1, description="max canary/stable p95 ratio")
    latency_slack_ms: float = Field(
        default=50, ge=0, description="absolute p95 slack (bucket resolution of tiny latencies)"
    )

    @classmethod
    def from_objectives(
        cls, objectives: SLOObjectives, *, min_requests: int = 20
    ) -> CanaryThresholds:
        """Thresholds from an environment's SLO objectives (``min_requests`` is per canary)."""
        return cls(
            error_rate=objectives.error_rate,
            latency_p95_ms=objectives.latency_p95_ms,
            availability=objectives.availability,
            min_requests=min_requests,
        )


class RevisionObservation(BaseModel):
    """What one revision did during the window (None: no data)."""

    revision: str
    requests: float | None
    failed: float | None
    error_rate: float | None
    latency_p95_ms: float | None
    availability: float | None = None


class CanaryCheck(BaseModel):
    """One comparison of the analysis."""

    name: str
    verdict: Verdict
    canary: float | None
    stable: float | None
    threshold: float | None
    reason: str


class CanaryAnalysis(BaseModel):
    """The analysis verdict with every observation and check behind it."""

    verdict: Verdict
    reason: str
    source: str
    window_s: float
    canary: RevisionObservation
    stable: RevisionObservation
    checks: list[CanaryCheck]
    queries: list[str] = Field(default_factory=list)


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
    measures_availability: bool

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


def judge_canary(
    canary: RevisionObservation,
    stable: RevisionObservation,
    thresholds: CanaryThresholds,
    *,
    with_availability: bool,
) -> tuple[Verdict, str, list[CanaryCheck]]:
    """Apply the canary rules; any fail -> fail, else any inconclusive -> inconclusive.

    Args:
        canary: the canary's observations over the window.
        stable: the stable revision's observations over the same window.
        thresholds: objectives and tolerances.
        with_availability: judge availability too (the source measures it).

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
    c_err, s_err = canary.error_rate, stable.error_rate
    c_lat, s_lat = canary.latency_p95_ms, stable.latency_p95_ms
    err_limit = None if _bad(s_err) else (s_err or 0) + t.error_rate_tolerance
    lat_limit = None
    if not _bad(s_lat) and s_lat is not None:
        lat_limit = max(s_lat * t.latency_ratio, s_lat + t.latency_slack_ms)
    checks = [
        CanaryCheck(
            name="canary_requests",
            verdict="pass" if enough else "inconclusive",
            canary=n,
            stable=stable.requests,
            threshold=t.min_requests,
            reason=gate or f"canary served {n:.0f} requests",
        ),
        _compare(
            "error_rate",
            c_err,
            s_err,
            t.error_rate,
            f"objective {t.error_rate:g} (error rate)",
            blocked=gate,
        ),
        _compare(
            "error_rate_vs_stable",
            c_err,
            s_err,
            err_limit,
            f"stable {_fmt(s_err)} + {t.error_rate_tolerance:g} (error rate)",
            blocked=gate or baseline,
        ),
        _compare(
            "latency_p95",
            c_lat,
            s_lat,
            t.latency_p95_ms,
            f"objective {t.latency_p95_ms:g} ms (p95 ms)",
            blocked=gate,
        ),
        _compare(
            "latency_p95_vs_stable",
            c_lat,
            s_lat,
            lat_limit,
            f"{lat_limit or 0:.1f} ms = max(stable {_fmt(s_lat)} ms x {t.latency_ratio:g}, "
            f"+ {t.latency_slack_ms:g} ms) (p95 ms)",
            blocked=gate or baseline,
        ),
    ]
    if with_availability:
        checks.append(
            _compare(
                "availability",
                canary.availability,
                stable.availability,
                t.availability,
                f"{t.availability:g} (availability)",
                blocked=None,
                at_least=True,
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
    verdict, reason, checks = judge_canary(
        canary, stable, thresholds, with_availability=source.measures_availability
    )
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
