"""Simulated canary streams for validating the judge (tests) and comparing it (bench).

Every replication is a stream of baseline and candidate samples observed in looks of
``look_every`` samples per arm. The judge's own vectorised pieces (:func:`block_scores`,
:func:`log_wealth`, :func:`first_crossing`, :func:`log_e_rates`) decide, so what is measured is
the code that runs in production, not a re-implementation; the naive repeated fixed-sample
test and today's fixed-window ratio rule run on the same streams for comparison.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from llm_platform.promotion.analysis import CanaryThresholds
from llm_platform.promotion.judge import (
    BLOCK,
    block_scores,
    first_crossing,
    log_wealth,
)
from llm_platform.promotion.rate_evidence import log_e_rates


@dataclass(frozen=True)
class LatencyScenario:
    """Lognormal latencies (median ``median_s``, log-sd ``sigma``); the candidate is scaled by
    ``factor`` and a ``tail_share`` of its requests additionally by ``tail_factor``."""

    name: str
    factor: float = 1.0
    tail_share: float = 0.0
    tail_factor: float = 1.0
    sigma: float = 0.5
    median_s: float = 0.5


@dataclass(frozen=True)
class Decisions:
    """Per replication: the verdict and the samples per arm when it was reached (NaN: none)."""

    verdicts: np.ndarray
    samples: np.ndarray

    def rate(self, verdict: str, *, by: float = math.inf) -> float:
        """Share of replications that reached ``verdict`` with at most ``by`` samples per arm."""
        return float(np.mean((self.verdicts == verdict) & (self.samples <= by)))

    def median_samples(self) -> float:
        """Median samples per arm to any decision (NaN when none decided)."""
        decided = self.samples[np.isfinite(self.samples)]
        return float(np.median(decided)) if decided.size else math.nan


def latency_streams(
    rng: np.random.Generator, s: LatencyScenario, reps: int, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """(baseline, candidate) latency arrays of shape (reps, n) in seconds."""
    mu = math.log(s.median_s)
    baseline = rng.lognormal(mu, s.sigma, (reps, n))
    candidate = rng.lognormal(mu, s.sigma, (reps, n)) * s.factor
    if s.tail_share > 0:
        candidate = np.where(
            rng.random((reps, n)) < s.tail_share, candidate * s.tail_factor, candidate
        )
    return baseline, candidate


def _to_look(first: np.ndarray, per: int, look_every: int) -> np.ndarray:
    """Index of a first crossing (in units of ``per`` samples) -> samples at the next look."""
    at = np.ceil((first + 1) * per / look_every) * look_every
    return np.where(first < 0, np.inf, at)


def _decide(fail_n: np.ndarray, pass_n: np.ndarray) -> Decisions:
    verdicts = np.where(
        np.isinf(fail_n) & np.isinf(pass_n),
        "inconclusive",
        np.where(fail_n <= pass_n, "fail", "pass"),
    )
    n = np.minimum(fail_n, pass_n)
    return Decisions(verdicts=verdicts, samples=np.where(np.isinf(n), np.nan, n))


def sequential_latency(
    baseline: np.ndarray,
    candidate: np.ndarray,
    *,
    max_increase: float,
    confidence: float,
    look_every: int,
) -> Decisions:
    """The judge called after every ``look_every`` samples per arm (first verdict counts)."""
    scores = block_scores(baseline, candidate, 1.0 + max_increase)
    fail = first_crossing(log_wealth(scores), confidence)
    passed = first_crossing(log_wealth(1.0 - scores), confidence)
    return _decide(_to_look(fail, BLOCK, look_every), _to_look(passed, BLOCK, look_every))


def naive_latency(
    baseline: np.ndarray,
    candidate: np.ndarray,
    *,
    max_increase: float,
    confidence: float,
    look_every: int,
) -> Decisions:
    """A fixed-sample one-sided sign test (normal approximation) repeated at every look."""
    z_crit = _normal_quantile(confidence)
    above = (candidate > (1.0 + max_increase) * baseline).astype(float)
    looks = np.arange(look_every, baseline.shape[-1] + 1, look_every)
    k = np.cumsum(above, axis=-1)[..., looks - 1]
    z = (k - looks / 2) / np.sqrt(looks / 4)
    fail = np.where((z > z_crit).any(axis=-1), (z > z_crit).argmax(axis=-1), -1)
    passed = np.where((z < -z_crit).any(axis=-1), (z < -z_crit).argmax(axis=-1), -1)
    return _decide(_to_look(fail, look_every, look_every), _to_look(passed, look_every, look_every))


def fixed_window_rule(
    baseline: np.ndarray, candidate: np.ndarray, *, window: int, stable_share: float = 9.0
) -> Decisions:
    """Today's canary rule (:mod:`llm_platform.promotion.analysis`) on one window.

    The canary's p95 over its first ``window`` requests against the stable p95 over the
    ``stable_share`` times as many stable requests of the same window (a 10 % canary):
    fail when above ``max(stable x latency_ratio, stable + latency_slack_ms)``; fewer than
    ``min_requests`` canary requests is inconclusive.
    """
    t = CanaryThresholds()
    reps = baseline.shape[0]
    if window < t.min_requests:
        verdicts = np.full(reps, "inconclusive")
        return Decisions(verdicts=verdicts, samples=np.full(reps, np.nan))
    stable_n = min(baseline.shape[-1], int(window * stable_share))
    c95 = np.quantile(candidate[:, :window] * 1000.0, 0.95, axis=-1)
    s95 = np.quantile(baseline[:, :stable_n] * 1000.0, 0.95, axis=-1)
    limit = np.maximum(s95 * t.latency_ratio, s95 + t.latency_slack_ms)
    verdicts = np.where(c95 > limit, "fail", "pass")
    return Decisions(verdicts=verdicts, samples=np.full(reps, float(window)))


def rate_streams(
    rng: np.random.Generator, baseline_rate: float, candidate_rate: float, reps: int, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative failure counts (reps, n) of two arms of Bernoulli requests."""
    return (
        np.cumsum(rng.random((reps, n)) < baseline_rate, axis=-1),
        np.cumsum(rng.random((reps, n)) < candidate_rate, axis=-1),
    )


def sequential_rates(
    baseline_failures: np.ndarray,
    candidate_failures: np.ndarray,
    *,
    max_increase: float,
    confidence: float,
    look_every: int,
) -> Decisions:
    """:func:`judge_proportions`' e-values at every look (cumulative counts, equal arms)."""
    looks = np.arange(look_every, baseline_failures.shape[-1] + 1, look_every)
    fb, fc = baseline_failures[..., looks - 1], candidate_failures[..., looks - 1]
    n = np.broadcast_to(looks.astype(float), fb.shape)
    bound = -math.log1p(-confidence)
    fail = log_e_rates(fb, n, fc, n, max_increase, worse=True) >= bound
    passed = log_e_rates(fb, n, fc, n, max_increase, worse=False) >= bound
    first_fail = np.where(fail.any(axis=-1), fail.argmax(axis=-1), -1)
    first_pass = np.where(passed.any(axis=-1), passed.argmax(axis=-1), -1)
    return _decide(
        _to_look(first_fail, look_every, look_every), _to_look(first_pass, look_every, look_every)
    )


def _normal_quantile(p: float) -> float:
    """Inverse standard normal CDF by bisection on ``math.erf`` (no scipy)."""
    lo, hi = -10.0, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < p else (lo, mid)
    return (lo + hi) / 2
