"""Confidence bounds for pass rates: Wilson score bounds and Newcombe's paired difference.

Closed forms needing only a normal quantile (``statistics.NormalDist`` from the standard
library, so no scipy): statsmodels has Wilson intervals but no interval for a difference of
*paired* proportions, which is what a candidate-vs-baseline run on the same cases is.

References:
    Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
    inference. JASA 22, 209-212.
    Newcombe, R. G. (1998). Improved confidence intervals for the difference between binomial
    proportions based on paired data. Statistics in Medicine 17, 2635-2650 (method 10: the
    hybrid score interval with the phi correction).
"""

from __future__ import annotations

import math
from statistics import NormalDist


def one_sided_z(confidence: float) -> float:
    """The normal quantile for a one-sided bound at ``confidence`` (1.645 at 0.95)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(confidence)


def wilson_bounds(successes: int, n: int, z: float) -> tuple[float, float]:
    """Wilson score bounds ``(lower, upper)`` of a proportion ``successes / n``.

    Each bound is one-sided at the level ``z`` stands for (``z = 1.96``: a 95 % two-sided
    interval, or two 97.5 % one-sided bounds).
    """
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    lower = 0.0 if successes == 0 else max(0.0, centre - half)
    upper = 1.0 if successes == n else min(1.0, centre + half)
    return lower, upper


def paired_difference_bounds(
    both: int, first_only: int, second_only: int, neither: int, z: float
) -> tuple[float, float]:
    """Newcombe's bounds for ``p1 - p2`` from paired binary outcomes.

    Args:
        both: pairs where both outcomes are successes.
        first_only: pairs where only the first succeeded.
        second_only: pairs where only the second succeeded.
        neither: pairs where neither did.
        z: the normal quantile of each one-sided bound.

    Returns:
        ``(lower, upper)`` around ``(first_only - second_only) / n``.
    """
    counts = (both, first_only, second_only, neither)
    if min(counts) < 0:
        raise ValueError(f"counts must be non-negative, got {counts}")
    n = sum(counts)
    if n == 0:
        return -1.0, 1.0
    p1 = (both + first_only) / n
    p2 = (both + second_only) / n
    theta = p1 - p2
    l1, u1 = wilson_bounds(both + first_only, n, z)
    l2, u2 = wilson_bounds(both + second_only, n, z)
    phi = _phi(both, first_only, second_only, neither)
    d_lower = (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2
    d_upper = (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2
    lower = max(-1.0, theta - math.sqrt(max(0.0, d_lower)))
    upper = min(1.0, theta + math.sqrt(max(0.0, d_upper)))
    return lower, upper


def _phi(a: int, b: int, c: int, d: int) -> float:
    """The correlation of the paired outcomes, continuity-corrected as Newcombe does."""
    denominator = (a + b) * (c + d) * (a + c) * (b + d)
    if denominator == 0:
        return 0.0
    n = a + b + c + d
    numerator = float(a * d - b * c)
    if numerator > 0:
        numerator = max(numerator - n / 2, 0.0)
    return numerator / math.sqrt(denominator)
