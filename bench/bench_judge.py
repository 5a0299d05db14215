"""Samples to a canary verdict: the sequential judge vs today's fixed-window ratio rule.

Both decide on the same simulated streams (lognormal latencies, median 0.5 s, log-sd 0.5; a
10 % canary, so the stable revision serves 9 requests per canary request):
  * judge: :func:`llm_platform.promotion.judge.judge` looked at after every 25 canary samples
    up to 1,000 (max_increase 0.1, confidence 0.95), the first verdict counts;
  * fixed-window rule (the canary analysis before the judge): the canary p95 of one window
    against max(stable p95 x 1.5, stable p95 + 50 ms), at the window sizes below;
  * naive: a fixed-sample 95 % sign test re-run at every look (why anytime validity matters).
Reported per scenario: false alarms (fail when the candidate is not worse), detection (fail
when it is), the median canary samples to a decision, and ratios judge / fixed window.
Failure rates: the judge's :func:`judge_proportions` (any increase counts) vs today's rule
(canary error rate > stable + 0.01).

    .venv/bin/python bench/bench_judge.py [--quick]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from llm_platform.promotion.analysis import CanaryThresholds
from llm_platform.promotion.judge_simulation import (
    Decisions,
    LatencyScenario,
    fixed_window_rule,
    latency_streams,
    naive_latency,
    rate_streams,
    sequential_latency,
    sequential_rates,
)

SCENARIOS = [
    (LatencyScenario("identical"), False),
    (LatencyScenario("+10% (at the limit)", factor=1.1), False),
    (LatencyScenario("+30%", factor=1.3), True),
    (LatencyScenario("+60%", factor=1.6), True),
    (LatencyScenario("tail: 10% of requests x3", tail_share=0.1, tail_factor=3.0), None),
]


def _row(name: str, d: Decisions, worse: bool | None) -> list[str]:
    return [
        name,
        f"{d.rate('fail'):.3f}",
        f"{d.rate('fail', by=400):.3f}",
        f"{d.rate('pass'):.3f}",
        f"{d.median_samples():.0f}",
        {True: "detection", False: "false alarm", None: "-"}[worse],
    ]


def main() -> None:
    """Run the comparison and print the table and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 replications instead of 1000")
    args = parser.parse_args()
    reps, n, look = (200 if args.quick else 1000), 1000, 25
    windows = (20, 200)
    rng = np.random.default_rng(12)
    t0 = time.perf_counter()
    header = ["scenario / method", "fail", "fail<=400", "pass", "median n", "fail means"]
    rows: list[list[str]] = []
    ratios: list[str] = []
    for s, worse in SCENARIOS:
        # the stable arm serves 9x the canary's requests: enough for every window
        b, c = latency_streams(rng, s, reps, n * 9)
        c = c[:, :n]
        judged = sequential_latency(b, c, max_increase=0.1, confidence=0.95, look_every=look)
        rows.append(_row(f"{s.name} | judge", judged, worse))
        naive = naive_latency(b[:, :n], c, max_increase=0.1, confidence=0.95, look_every=look)
        rows.append(_row(f"{s.name} | naive repeated test", naive, worse))
        for w in windows:
            fixed = fixed_window_rule(b, c, window=w)
            rows.append(_row(f"{s.name} | fixed window {w}", fixed, worse))
            if worse and fixed.rate("fail") > 0:
                ratios.append(
                    f"{s.name}: detection judge/fixed-{w} = "
                    f"{judged.rate('fail') / fixed.rate('fail'):.1f}x"
                )
            if worse is False:
                ratios.append(
                    f"{s.name}: false alarms judge {judged.rate('fail'):.3f} vs fixed-{w} "
                    f"{fixed.rate('fail'):.3f}"
                )
    t = CanaryThresholds()
    for pb, pc in ((0.005, 0.005), (0.005, 0.03)):
        fb, fc = rate_streams(rng, pb, pc, reps, n)
        judged = sequential_rates(fb, fc, max_increase=0.0, confidence=0.95, look_every=look)
        name = f"errors {pb:.1%} vs {pc:.1%}"
        rows.append(_row(f"{name} | judge", judged, pc > pb))
        for w in windows:
            fail = (fc[:, w - 1] / w) > (fb[:, w - 1] / w + t.error_rate_tolerance)
            fixed = Decisions(
                verdicts=np.where(fail, "fail", "pass"), samples=np.full(reps, float(w))
            )
            rows.append(_row(f"{name} | fixed window {w}", fixed, pc > pb))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))
    print()
    for line in ratios:
        print(line)
    print(
        f"\n{reps} replications per scenario, looks every {look} samples; "
        f"{time.perf_counter() - t0:.1f}s"
    )


if __name__ == "__main__":
    main()
