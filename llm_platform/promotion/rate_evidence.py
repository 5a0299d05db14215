"""Evidence about two failure rates for :func:`llm_platform.promotion.judge.judge_proportions`.

The e-value against "the candidate's rate exceeds the baseline's by at most ``delta``" (and its
mirror) is the two arms' mixture likelihood (Robbins' method of mixtures; Howard et al.,
"Time-uniform, nonparametric, nonasymptotic confidence sequences", Ann. Statist. 2021) over the
maximum likelihood under that null. Everything here is vectorised numpy: the simulations of
:mod:`llm_platform.promotion.judge_simulation` evaluate whole arrays of counts at once.
"""

from __future__ import annotations

import math

import numpy as np

#: Prior of each arm's failure rate in the mixture: equal weights on a grid uniform in
#: log-odds from 1e-6 to 0.6. A uniform prior on [0, 1] spends ~5 nats per arm on a 0.5 % rate
#: (its posterior is narrow compared with the prior); this one ~2-3.
RATE_GRID = 1.0 / (1.0 + np.exp(-np.linspace(math.log(1e-6), math.log(1.5), 160)))


def _logmeanexp(x: np.ndarray) -> np.ndarray:
    top = x.max(axis=-1, keepdims=True)
    return np.asarray((top + np.log(np.mean(np.exp(x - top), axis=-1, keepdims=True)))[..., 0])


def _log_mixture(f: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Log of the likelihood averaged over the RATE_GRID prior (vectorised)."""
    return _logmeanexp(_loglik(f[..., None], n[..., None], RATE_GRID))


def _loglik(f: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Binomial log-likelihood without the constant, with ``0 log 0 = 0``."""
    p = np.clip(p, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        hit = np.where(f > 0, f * np.log(p), 0.0)
        miss = np.where(n - f > 0, (n - f) * np.log1p(-p), 0.0)
    return np.asarray(hit + miss, dtype=float)


def _per(count: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``count / p`` with ``0 / 0 = 0`` (a term without observations has no slope)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(count > 0, count / p, 0.0), dtype=float)


def _boundary_max(
    fb: np.ndarray, nb: np.ndarray, fc: np.ndarray, nc: np.ndarray, delta: np.ndarray
) -> np.ndarray:
    """``max_p  loglik(baseline; p) + loglik(candidate; p + delta)`` (concave: bisection on the
    derivative over the feasible ``p``)."""
    eps = 1e-12
    lo = np.maximum(0.0, -delta) + eps
    hi = np.minimum(1.0, 1.0 - delta) - eps
    for _ in range(45):
        mid = (lo + hi) / 2
        q = mid + delta
        slope = _per(fb, mid) - _per(nb - fb, 1 - mid) + _per(fc, q) - _per(nc - fc, 1 - q)
        lo, hi = np.where(slope > 0, mid, lo), np.where(slope > 0, hi, mid)
    p = (lo + hi) / 2
    return _loglik(fb, nb, p) + _loglik(fc, nc, p + delta)


def log_e_rates(
    fb: np.ndarray,
    nb: np.ndarray,
    fc: np.ndarray,
    nc: np.ndarray,
    delta: float | np.ndarray,
    *,
    worse: bool,
) -> np.ndarray:
    """Log e-value against ``p_c <= p_b + delta`` (``worse``) or ``p_c >= p_b + delta``.

    Mixture likelihood of both arms over the maximum likelihood under the null. For every
    rate pair of the null, the mixture over that pair's likelihood is a non-negative
    martingale however the two arms' requests interleave (Robbins' mixture); the maximum over
    the null is at least that pair's likelihood, so this e-value is below every such
    martingale and Ville's inequality bounds the chance it ever crosses ``1/alpha``.
    Vectorised: the counts and ``delta`` broadcast together.
    """
    fb, nb, fc, nc, d = np.broadcast_arrays(
        *(np.asarray(x, dtype=float) for x in (fb, nb, fc, nc, delta))
    )
    mix = _log_mixture(fb, nb) + _log_mixture(fc, nc)
    hat_b, hat_c = fb / np.maximum(nb, 1), fc / np.maximum(nc, 1)
    inside = (hat_c <= hat_b + d) if worse else (hat_c >= hat_b + d)
    free = _loglik(fb, nb, hat_b) + _loglik(fc, nc, hat_c)
    null = np.where(inside, free, _boundary_max(fb, nb, fc, nc, d))
    return np.asarray(mix - null, dtype=float)


def rate_bound(f: tuple[int, int, int, int], threshold: float, *, worse: bool) -> float:
    """The rate difference at which the test turns: the e-value is monotone in delta, so a grid
    refined three times around the turning point (vectorised) brackets it to ~1e-6."""
    fb, nb, fc, nc = (np.asarray(float(x)) for x in f)
    lo, hi = -1.0 + 1e-9, 1.0 - 1e-9  # at +-1 the null is a single corner
    for _ in range(3):
        grid = np.linspace(lo, hi, 101)
        rejects = log_e_rates(fb, nb, fc, nc, grid, worse=worse) >= threshold
        # worse: rejects for delta below the lower bound; else: above the upper bound
        turned = rejects if not worse else ~rejects
        i = int(np.argmax(turned)) if turned.any() else grid.size - 1
        lo, hi = float(grid[max(i - 1, 0)]), float(grid[i])
    return (lo + hi) / 2
