"""Bench: fleet SLO re-check (constant queries) vs the seed's three queries per model.

Backfills N models of one namespace into a real Prometheus, then times
  * fleet:  ``evaluate_fleet`` -- five ``... by (model)`` queries for the whole namespace;
  * seed:   the reference script's approach -- uptime, p95 and error-ratio queries per model,
            one model at a time (same HTTP client, so only the query strategy differs).

Run: ``.venv/bin/python bench/bench_slo_fleet.py [--quick]`` (quick: 200 models, else 1,000).
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _timing import sized_args  # noqa: E402

from llm_platform.config import SLOObjectives  # noqa: E402
from llm_platform.slo import PrometheusClient, evaluate_fleet  # noqa: E402
from tests.helpers.prom_fixtures import Scenario, start_with_history  # noqa: E402

NS = "bench"
STEP, STEPS = 60, 70  # 70 minutes of history at one sample per minute; the window is 1 h


def seed_check(client: PrometheusClient, model: str, at: datetime) -> bool:
    """The reference script's per-model check (three queries; missing data become numbers)."""
    sel = f'model="{model}",namespace="{NS}"'
    up = client.query(f'avg_over_time(up{{job="llm-model",{sel}}}[1h])', at=at)
    p95 = client.query(
        f"histogram_quantile(0.95, rate(llm_request_duration_seconds_bucket{{{sel}}}[1h]))", at=at
    )
    err = client.query(
        f"rate(llm_requests_failed_total{{{sel}}}[1h]) / rate(llm_requests_total{{{sel}}}[1h])",
        at=at,
    )
    uptime = up[0].value if up else 0.0
    latency = p95[0].value if p95 else 999.0
    errors = err[0].value if err else 1.0
    return uptime >= 0.999 and latency <= 2.0 and errors <= 0.01


def main() -> None:
    args = sized_args(
        __doc__,
        quick="200 models instead of 1,000",
        repeat=3,
        repeat_help="fleet runs (best is reported)",
    )
    n = 200 if args.quick else 1000
    scenarios = [
        Scenario(f"model-{i:04d}", NS, error_ratio=0.05 if i % 10 == 0 else 0.001) for i in range(n)
    ]
    end = int(time.time()) // STEP * STEP
    at = datetime.fromtimestamp(end, UTC)
    objectives = SLOObjectives(window="1h", availability=0.999, min_requests=1000)
    with tempfile.TemporaryDirectory(prefix="bench-slo-") as tmp:
        started = time.perf_counter()
        prom = start_with_history(Path(tmp), scenarios, end=end, steps=STEPS, step=STEP)
        print(
            f"backfilled {n} models ({n * 12} series) and started Prometheus in "
            f"{time.perf_counter() - started:.1f} s"
        )
        try:
            with PrometheusClient(prom.url, timeout=120) as client:
                wanted = {s.model: objectives for s in scenarios}
                evaluate_fleet(client, namespace=NS, objectives_by_model=wanted, at=at)  # warm-up
                fleet_s, client.queries_issued = float("inf"), 0
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    verdicts = evaluate_fleet(
                        client, namespace=NS, objectives_by_model=wanted, at=at
                    )
                    fleet_s = min(fleet_s, time.perf_counter() - t0)
                fleet_queries = client.queries_issued // args.repeat
                client.queries_issued = 0
                t0 = time.perf_counter()
                seed = {s.model: seed_check(client, s.model, at) for s in scenarios}
                seed_s = time.perf_counter() - t0
                seed_queries = client.queries_issued
        finally:
            prom.stop()
    fails = sum(v.verdict == "fail" for v in verdicts.values())
    passes = sum(v.verdict == "pass" for v in verdicts.values())
    agree = sum((verdicts[m].verdict == "pass") == ok for m, ok in seed.items())
    print(f"models: {n}  fleet verdicts: {passes} pass, {fails} fail; seed agrees on {agree}/{n}")
    print(f"fleet: {fleet_queries:5d} queries  {fleet_s * 1000:9.1f} ms (best of {args.repeat})")
    print(f"seed:  {seed_queries:5d} queries  {seed_s * 1000:9.1f} ms")
    print(
        f"speedup (seed / fleet): {seed_s / fleet_s:.1f}x   "
        f"query ratio: {seed_queries / fleet_queries:.0f}x"
    )


if __name__ == "__main__":
    main()
