"""Sequential canary analysis: look every few seconds until the judge decides or time runs out.

Samples come from the latency histograms both metric sources already read (the gateway's own
``/metrics`` locally, Prometheus in a cluster, where each pod's sidecar gateway is scraped):
at every look the bucket counts gained since the previous look are expanded into
representative values spread evenly inside each bucket -- the assumption Prometheus'
``histogram_quantile`` makes -- shuffled, and appended in pairs (as many stable as canary
samples of the same look, so a pair is contemporaneous). The failure counters feed
:func:`llm_platform.promotion.judge.judge_proportions` as they are (cumulative counts).

Per look: any judge ``fail`` fails the canary at once; when every judge passes, the absolute
objectives (:func:`judge_canary` without its fixed-window relative rules) decide; otherwise the
analysis looks again until ``deadline_s``, where it is ``inconclusive`` (the strategy applies
the environment's ``analysis.on_inconclusive``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

from llm_platform.promotion.analysis import (
    AnalysisTarget,
    CanaryAnalysis,
    CanaryCheck,
    CanaryThresholds,
    MetricsSource,
    RevisionObservation,
    SampleSnapshot,
    Verdict,
    judge_canary,
)
from llm_platform.promotion.judge import Judgement, judge, judge_proportions
from llm_platform.promotion.metric_sources import histogram_quantile
from llm_platform.slo.objectives import OBJECTIVES

#: The objectives the latency judge compares (those measured as a histogram's p95).
LATENCY_OBJECTIVES = tuple(o.name for o in OBJECTIVES if o.histogram is not None)
#: Name of the failure-proportion check (the registry's error-rate objective, vs stable).
ERRORS_CHECK = "error_rate_vs_stable"


class SampleSource(MetricsSource, Protocol):
    """A metrics source that can also report counters accumulated since ``begin``."""

    def snapshot(self, target: AnalysisTarget) -> tuple[SampleSnapshot, SampleSnapshot, list[str]]:
        """(canary, stable, queries used) accumulated since ``begin``."""
        ...


def p95_ms(buckets: dict[float, float]) -> float | None:
    """``histogram_quantile(0.95)`` of cumulative buckets, in ms (None: no samples)."""
    value = histogram_quantile(0.95, buckets)
    return None if value is None else value * 1000.0


def expand_buckets(counts: dict[float, float]) -> np.ndarray:
    """Representative values (seconds) for per-bucket counts (``le`` -> count in the bucket).

    ``k`` samples in ``(lower, le]`` become ``lower + (le - lower) * (i + 0.5) / k``; the +Inf
    bucket's samples take the highest finite bound (as ``histogram_quantile`` does).
    """
    values: list[np.ndarray] = []
    lower = 0.0
    for le in sorted(counts):
        k = int(round(counts[le]))
        if k > 0:
            if math.isinf(le):
                values.append(np.full(k, lower))
            else:
                values.append(lower + (le - lower) * (np.arange(k) + 0.5) / k)
        if not math.isinf(le):
            lower = le
    return np.concatenate(values) if values else np.empty(0)


class PairedSamples:
    """Per latency objective, the paired samples (stable, canary) gathered look by look.

    Args:
        seed: of the shuffles (a fixed seed makes an analysis reproducible from its counts).
    """

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.stable: dict[str, list[float]] = {}
        self.canary: dict[str, list[float]] = {}
        self._seen: dict[tuple[str, str, float], float] = {}

    def _new(self, who: str, name: str, cumulative: dict[float, float]) -> np.ndarray:
        """Samples that arrived since the previous look (per-bucket, never negative)."""
        fresh: dict[float, float] = {}
        below = 0.0
        for le in sorted(cumulative):
            in_bucket = max(0.0, cumulative[le] - below)
            below = max(below, cumulative[le])
            key = (who, name, le)
            seen = self._seen.get(key, 0.0)
            fresh[le] = max(0.0, round(in_bucket) - seen)
            self._seen[key] = max(seen, round(in_bucket))
        values = expand_buckets(fresh)
        self.rng.shuffle(values)
        return values

    def add(self, canary: SampleSnapshot, stable: SampleSnapshot) -> None:
        """Add the samples both revisions gained since the previous call."""
        for name in set(canary.buckets) & set(stable.buckets):
            c = self._new("canary", name, canary.buckets[name])
            s = self._new("stable", name, stable.buckets[name])
            n = min(c.size, s.size)
            # the larger arm's surplus of this look is dropped: pairs stay contemporaneous
            self.canary.setdefault(name, []).extend(c[:n].tolist())
            self.stable.setdefault(name, []).extend(s[:n].tolist())


def _observation(snap: SampleSnapshot) -> RevisionObservation:
    values: dict[str, float | None] = {}
    if snap.requests is not None and snap.failed is not None:
        values["error_rate"] = snap.failed / snap.requests if snap.requests > 0 else None
    for name, buckets in snap.buckets.items():
        values[name] = p95_ms(buckets)
    return RevisionObservation(
        revision=snap.revision, requests=snap.requests, failed=snap.failed, values=values
    )


def _judge_all(
    samples: PairedSamples, canary: SampleSnapshot, stable: SampleSnapshot, t: CanaryThresholds
) -> dict[str, Judgement]:
    out: dict[str, Judgement] = {}
    counts = (stable.failed, stable.requests, canary.failed, canary.requests)
    if None not in counts:
        # Prometheus' increase() extrapolates: whole requests, failures never above requests
        sf, sn, cf, cn = (max(0, round(x or 0.0)) for x in counts)
        out[ERRORS_CHECK] = judge_proportions(
            min(sf, sn),
            sn,
            min(cf, cn),
            cn,
            max_increase=t.error_rate_tolerance,
            confidence=t.confidence,
        )
    slack = t.latency_slack_ms / 1000.0
    for name in LATENCY_OBJECTIVES:
        if name not in t.objectives or name not in samples.canary:
            continue
        out[f"{name}_vs_stable"] = judge(
            [v + slack for v in samples.stable[name]],
            [v + slack for v in samples.canary[name]],
            max_increase=t.max_increase,
            confidence=t.confidence,
        )
    return out


def judgement_check(name: str, j: Judgement, *, unit: str = "samples") -> CanaryCheck:
    """One judge's outcome as a check of the analysis (canary samples or shadow ``pairs``)."""
    what = "typical latency ratio" if j.kind == "ratio" else "failure-rate increase"
    bounds = (
        f"[{j.lower if j.lower is not None else '-'}, {j.upper if j.upper is not None else '-'}]"
    )
    return CanaryCheck(
        name=name,
        verdict=j.verdict,
        canary=j.estimate,
        stable=None,
        threshold=j.limit,
        reason=f"{what} {j.estimate if j.estimate is not None else 'none'} "
        f"(bounds {bounds}, {j.used_n} {unit}): {j.reason}",
    )


def look(
    samples: PairedSamples,
    canary: SampleSnapshot,
    stable: SampleSnapshot,
    t: CanaryThresholds,
    measured: frozenset[str],
) -> tuple[Verdict, str, list[CanaryCheck], dict[str, Judgement]]:
    """One look of the judges at what has accumulated: (verdict, reason, checks, judgements).

    ``pass`` needs every judge to pass: the failure rates and the latency of every configured
    latency objective the source measures.
    """
    samples.add(canary, stable)
    judgements = _judge_all(samples, canary, stable, t)
    checks = [judgement_check(n, j) for n, j in judgements.items()]
    failed = [c for c in checks if c.verdict == "fail"]
    if failed:
        return "fail", "; ".join(f"{c.name}: {c.reason}" for c in failed), checks, judgements
    wanted = {ERRORS_CHECK} | {
        f"{n}_vs_stable" for n in LATENCY_OBJECTIVES if n in t.objectives and n in measured
    }
    missing = sorted(wanted - set(judgements))
    open_checks = [c for c in checks if c.verdict != "pass"]
    if missing or open_checks:
        why = [f"{c.name}: {c.reason}" for c in open_checks] + [f"{m}: no samples" for m in missing]
        return "inconclusive", "; ".join(why), checks, judgements
    return "pass", "the judge shows the canary is not worse than stable", checks, judgements


def sequential_analysis(
    source: SampleSource,
    target: AnalysisTarget,
    thresholds: CanaryThresholds,
    *,
    look_every_s: float,
    deadline_s: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> CanaryAnalysis:
    """Look every ``look_every_s`` (after ``begin``) until a verdict or ``deadline_s``.

    When the judges pass, the window since ``begin`` is collected once more
    (``source.collect``) and the absolute objectives decide; an objective without data yet
    keeps the analysis looking.

    Returns:
        The last look's analysis: ``pass`` / ``fail`` as soon as decided, else
        ``inconclusive`` at the deadline (with what was still open).
    """
    samples, start, n = PairedSamples(), clock(), 0
    while True:
        sleep(max(0.0, min(look_every_s, deadline_s - (clock() - start))))
        n += 1
        canary, stable, queries = source.snapshot(target)
        verdict, reason, checks, judgements = look(
            samples, canary, stable, thresholds, source.measures
        )
        c_obs, s_obs = _observation(canary), _observation(stable)
        if verdict == "pass":
            c_obs, s_obs, more = source.collect(target, clock() - start)
            queries = queries + more
            verdict, why, absolute = judge_canary(
                c_obs, s_obs, thresholds, measured=source.measures, relative=False
            )
            checks += absolute
            if verdict != "pass":
                reason = f"{reason}, but {why}"
            else:
                reason = f"{reason} and it meets every objective"
        elapsed = clock() - start
        if verdict != "inconclusive" or elapsed >= deadline_s:
            if verdict == "inconclusive":
                reason = f"no verdict by the {deadline_s:g}s deadline ({n} looks): {reason}"
            return CanaryAnalysis(
                verdict=verdict,
                reason=reason,
                source=source.name,
                window_s=round(elapsed, 3),
                canary=c_obs,
                stable=s_obs,
                checks=checks,
                queries=queries,
                looks=n,
                judgements=judgements,
            )
