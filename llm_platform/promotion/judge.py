"""The sequential judge: is a candidate revision worse than the baseline, anytime-valid.

Two pure functions, both safe to call again after every new batch of samples (the false-alarm
rate stays at most ``1 - confidence`` over *all* looks, however many):

:func:`judge` -- samples where higher is worse (latency, TTFT, time per output token). The
  samples are paired by index (``baseline[i]`` with ``candidate[i]``; the caller appends
  contemporaneous samples) in blocks of :data:`BLOCK` pairs; a block scores the share of its
  cross comparisons in which the candidate is more than ``1 + max_increase`` times the
  baseline (ties half) -- a Mann-Whitney statistic per block. The typical ratio -- the ``r``
  with ``P(candidate > r * baseline) = 1/2`` -- exceeds ``1 + max_increase`` exactly when the
  expected score exceeds 1/2. No distributional assumption is needed (under a scale change
  ``candidate ~ k * baseline`` the typical ratio is ``k``, whatever the shape). It is made
  sequential with a betting e-process (Waudby-Smith & Ramdas, "Estimating means of bounded
  random variables by betting", JRSS-B 2024): the wealth ``prod (1 + lambda (score - 1/2))``
  is a non-negative supermartingale when the expected score is <= 1/2, an equal-weight mixture
  over a grid of bets stays one, and by Ville's inequality it ever reaches
  ``1 / (1 - confidence)`` with probability at most ``1 - confidence``. ``fail`` is that
  crossing (checked after every block, so a later call sees an earlier crossing: the verdict
  of a growing sample never flips back); ``pass`` is the mirrored bet against "worse".
  Inverting the test over all thresholds gives the confidence sequence of the typical ratio
  (``lower``, ``upper``, each one-sided at ``confidence``); the point estimate is the
  Hodges-Lehmann ratio (median of all cross log-ratios).

:func:`judge_proportions` -- failure counts. ``max_increase`` is ABSOLUTE (0.01 = one
  percentage point): relative increases of rare rates (0 failures of 200) are not defined.
  The e-value is the two arms' mixture likelihood (Robbins' method of mixtures; Howard et al.,
  "Time-uniform, nonparametric, nonasymptotic confidence sequences", Ann. Statist. 2021) over
  the maximum likelihood under the null "increase <= max_increase"; it lies below the mixture
  martingale of every null rate pair, so Ville's inequality applies. It depends on the counts
  only, so it can be fed cumulative counters of arms of any sizes.

Short samples are ``inconclusive`` (the evidence cannot reach the bound yet); NaN, infinities
and negative values raise :class:`ValueError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from llm_platform.promotion.rate_evidence import log_e_rates, rate_bound
from llm_platform.slo.evaluate import Verdict

#: Bets of the mixture, as fractions of the maximum stake (``lambda / 2``): Kelly-optimal for
#: ``P(X=1)`` between about 0.51 and 0.95. Equal weights: the mixture costs ``log(8)`` nats.
BETS = np.array([0.05, 0.1, 0.2, 0.3, 0.45, 0.65, 0.8, 0.95])
#: Pairs per block: each block scores all BLOCK x BLOCK cross comparisons (a Mann-Whitney
#: statistic on the block), which has less variance than BLOCK separate pair signs.
BLOCK = 5
#: Each sample is thinned to at most this many order statistics for the Hodges-Lehmann estimate.
HL_MAX = 200


class Judgement(BaseModel):
    """The judge's answer, with the estimate and the evidence behind it.

    ``estimate`` / ``lower`` / ``upper``: for :func:`judge` the typical candidate/baseline
    ratio (Hodges-Lehmann) and its confidence-sequence bounds (None: no bound yet); for
    :func:`judge_proportions` the difference of failure rates (candidate - baseline).
    ``limit`` is what the estimate is compared with (``1 + max_increase`` for a ratio,
    ``max_increase`` for a difference).
    """

    model_config = ConfigDict(frozen=True)

    verdict: Verdict
    kind: Literal["ratio", "difference"]
    estimate: float | None
    lower: float | None
    upper: float | None
    limit: float
    confidence: float
    baseline_n: int
    candidate_n: int
    used_n: int
    reason: str

    @property
    def interval(self) -> tuple[float | None, float | None]:
        """``(lower, upper)``: the anytime-valid bounds of the estimate."""
        return self.lower, self.upper


def _check_params(max_increase: float, confidence: float) -> None:
    if not (isinstance(confidence, int | float) and 0.0 < confidence < 1.0):
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if not (isinstance(max_increase, int | float) and math.isfinite(max_increase)):
        raise ValueError(f"max_increase must be a finite number, got {max_increase!r}")
    if max_increase < 0:
        raise ValueError(f"max_increase must be >= 0, got {max_increase!r}")


def _samples(values: Sequence[float], name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a flat sequence of numbers, got shape {arr.shape}")
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name}[{i}] = {arr[i]!r}: samples must be finite and >= 0 "
            f"({int(bad.sum())} bad value(s) of {arr.size})"
        )
    return arr


def _logmeanexp(x: np.ndarray) -> np.ndarray:
    top = x.max(axis=-1, keepdims=True)
    return np.asarray((top + np.log(np.mean(np.exp(x - top), axis=-1, keepdims=True)))[..., 0])


def block_scores(baseline: np.ndarray, candidate: np.ndarray, limit: float) -> np.ndarray:
    """Score each block of BLOCK pairs: the share of its BLOCK x BLOCK cross comparisons in
    which the candidate exceeds ``limit`` times the baseline (ties half). Vectorised over
    leading axes; an incomplete last block is left out until it fills."""
    nb = min(baseline.shape[-1], candidate.shape[-1]) // BLOCK
    shape = (*baseline.shape[:-1], nb, BLOCK)
    b = baseline[..., : nb * BLOCK].reshape(shape)[..., None, :] * limit
    c = candidate[..., : nb * BLOCK].reshape(shape)[..., :, None]
    return np.asarray(((c > b).astype(float) + 0.5 * (c == b)).mean(axis=(-2, -1)))


def log_wealth(scores: np.ndarray) -> np.ndarray:
    """Log of the mixture wealth after each block, betting that ``E[score] > 1/2``.

    ``log_wealth(1 - scores)`` bets the other way. Vectorised over leading axes.
    """
    steps = np.log1p(2 * BETS * (np.asarray(scores, dtype=float)[..., None] - 0.5))
    return _logmeanexp(np.cumsum(steps, axis=-2))


def first_crossing(log_e: np.ndarray, confidence: float) -> np.ndarray:
    """Index of the first block at which ``log_e`` reaches ``log(1/(1-confidence))``; -1: none."""
    hit = log_e >= -math.log1p(-confidence)
    if hit.shape[-1] == 0:
        return np.full(hit.shape[:-1], -1)
    return np.where(hit.any(axis=-1), hit.argmax(axis=-1), -1)


def _rejects(b: np.ndarray, c: np.ndarray, r: float, confidence: float, worse: bool) -> bool:
    s = block_scores(b, c, r)
    return bool(first_crossing(log_wealth(s if worse else 1.0 - s), confidence) >= 0)


def _bounds(b: np.ndarray, c: np.ndarray, confidence: float) -> tuple[float | None, float | None]:
    """The confidence sequence of the typical ratio: the test inverted over all thresholds."""
    nb = min(b.size, c.size) // BLOCK
    bb = b[: nb * BLOCK].reshape(nb, BLOCK)
    cc = c[: nb * BLOCK].reshape(nb, BLOCK)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = (cc[:, :, None] / bb[:, None, :]).ravel()
    grid = np.unique(ratios[np.isfinite(ratios)])
    if grid.size == 0:
        return None, None

    def search(pred: Callable[[float], bool]) -> int:  # first index where pred turns true
        lo, hi = 0, grid.size
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if pred(float(grid[mid])) else (mid + 1, hi)
        return lo

    j = search(lambda r: not _rejects(b, c, r, confidence, worse=True))
    k = search(lambda r: _rejects(b, c, r, confidence, worse=False))
    lower = float(grid[j]) if j > 0 and j < grid.size else None
    upper = float(grid[k]) if k < grid.size else None
    return lower, upper


def hodges_lehmann_ratio(baseline: np.ndarray, candidate: np.ndarray) -> float | None:
    """``exp(median(log c - log b))`` over all cross pairs (each side thinned to HL_MAX)."""
    if baseline.size == 0 or candidate.size == 0:
        return None

    def thin(a: np.ndarray) -> np.ndarray:
        a = np.sort(np.log(np.maximum(a, np.finfo(float).tiny)))
        return a if a.size <= HL_MAX else a[np.linspace(0, a.size - 1, HL_MAX).astype(int)]

    return float(np.exp(np.median(thin(candidate)[:, None] - thin(baseline)[None, :])))


def judge(
    baseline: Sequence[float],
    candidate: Sequence[float],
    *,
    max_increase: float,
    confidence: float,
) -> Judgement:
    """Is the candidate's typical value more than ``max_increase`` above the baseline's?

    Args:
        baseline: samples of the baseline revision (higher is worse), in arrival order.
        candidate: samples of the candidate, in arrival order; ``candidate[i]`` is paired with
            ``baseline[i]`` (the longer sample's tail waits for its partners).
        max_increase: the tolerated increase, a fraction (0.1 = 10 %), >= 0.
        confidence: in (0, 1); ``1 - confidence`` bounds the false ``fail`` rate (and the false
            ``pass`` rate) over any number of looks.

    Returns:
        The verdict, the Hodges-Lehmann ratio, its confidence-sequence bounds, the counts.

    Raises:
        ValueError: NaN, infinite or negative samples; confidence or max_increase out of range.
    """
    _check_params(max_increase, confidence)
    b, c = _samples(baseline, "baseline"), _samples(candidate, "candidate")
    n = min(b.size, c.size)
    used = n // BLOCK * BLOCK
    limit = 1.0 + max_increase
    scores = block_scores(b, c, limit)
    fail_at = int(first_crossing(log_wealth(scores), confidence))
    pass_at = int(first_crossing(log_wealth(1.0 - scores), confidence))
    lower, upper = _bounds(b, c, confidence)
    verdict: Verdict = "inconclusive"
    if fail_at >= 0 and (pass_at < 0 or fail_at <= pass_at):
        verdict = "fail"
        reason = f"typical ratio above {limit:g} at confidence {confidence:g}"
    elif pass_at >= 0:
        verdict = "pass"
        reason = f"typical ratio at most {limit:g} at confidence {confidence:g}"
    else:
        reason = f"{used} pairs: not yet enough evidence either way about {limit:g}x"
    at = fail_at if verdict == "fail" else pass_at
    if verdict != "inconclusive":
        reason += f" (decided after {(at + 1) * BLOCK} pairs)"
    return Judgement(
        verdict=verdict,
        kind="ratio",
        estimate=hodges_lehmann_ratio(b[:n], c[:n]),
        lower=lower,
        upper=upper,
        limit=limit,
        confidence=confidence,
        baseline_n=int(b.size),
        candidate_n=int(c.size),
        used_n=used,
        reason=reason,
    )


def _count(value: float, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite count, got {value!r}")
    if value < 0 or value != int(value):
        raise ValueError(f"{name} must be a non-negative whole number, got {value!r}")
    return int(value)


def judge_proportions(
    baseline_failures: float,
    baseline_total: float,
    candidate_failures: float,
    candidate_total: float,
    *,
    max_increase: float,
    confidence: float,
) -> Judgement:
    """Is the candidate's failure rate more than ``max_increase`` (ABSOLUTE) above baseline's?

    Args:
        baseline_failures: failed baseline requests so far (cumulative).
        baseline_total: baseline requests so far.
        candidate_failures: failed candidate requests so far.
        candidate_total: candidate requests so far.
        max_increase: tolerated increase of the rate in absolute terms (0.01 = 1 point), >= 0.
        confidence: in (0, 1); bounds false ``fail`` and false ``pass`` over all looks.

    Returns:
        The verdict, the rate difference (candidate - baseline) and its bounds, the counts.

    Raises:
        ValueError: negative, fractional or non-finite counts, failures above the total, or
            parameters out of range.
    """
    _check_params(max_increase, confidence)
    bf, bt = (
        _count(baseline_failures, "baseline_failures"),
        _count(baseline_total, "baseline_total"),
    )
    cf = _count(candidate_failures, "candidate_failures")
    ct = _count(candidate_total, "candidate_total")
    for f, t, who in ((bf, bt, "baseline"), (cf, ct, "candidate")):
        if f > t:
            raise ValueError(f"{who}_failures ({f}) exceed {who}_total ({t})")
    threshold = -math.log1p(-confidence)
    counts = (bf, bt, cf, ct)
    verdict: Verdict = "inconclusive"
    lower = upper = None
    if bt == 0 or ct == 0:
        reason = "no requests on one side"
    else:
        lower = rate_bound(counts, threshold, worse=True)
        upper = rate_bound(counts, threshold, worse=False)
        fb, nb, fc, nc = (np.asarray(float(x)) for x in counts)
        if log_e_rates(fb, nb, fc, nc, max_increase, worse=True) >= threshold:
            verdict, reason = "fail", f"failure rate increase above {max_increase:g} shown"
        elif log_e_rates(fb, nb, fc, nc, max_increase, worse=False) >= threshold:
            verdict, reason = "pass", f"failure rate increase at most {max_increase:g} shown"
        else:
            reason = f"increase between {lower:.4g} and {upper:.4g}, limit {max_increase:g}"
    return Judgement(
        verdict=verdict,
        kind="difference",
        estimate=(cf / ct - bf / bt) if bt and ct else None,
        lower=lower,
        upper=upper,
        limit=max_increase,
        confidence=confidence,
        baseline_n=bt,
        candidate_n=ct,
        used_n=min(bt, ct),
        reason=reason,
    )
