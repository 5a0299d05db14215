"""Bench: per-query cost of the SLO client (prometheus-api-client) vs a bare httpx request.

Starts a real Prometheus with a small backfilled history and times the same instant query,
alternating between
  * client:   ``llm_platform.slo.PrometheusClient`` (``PrometheusConnect.custom_query`` on a
              pooled ``requests`` session, result parsed into samples);
  * baseline: one pooled ``httpx.Client`` GET of ``/api/v1/query`` and ``json()``.

Run: ``.venv/bin/python bench/bench_prom_client.py [--quick]`` (quick: 200 queries, else 1,000).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llm_platform.slo import DEFAULT_PROFILE, PrometheusClient, build_queries  # noqa: E402
from tests.helpers.prom_fixtures import Scenario, aligned_now, start_with_history  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 queries instead of 1,000")
    args = parser.parse_args()
    n = 200 if args.quick else 1000
    end = aligned_now()
    at = datetime.fromtimestamp(end, UTC)
    query = build_queries(DEFAULT_PROFILE, namespace="bench", window="30m", model="m").objectives[
        "latency_p95"
    ]
    with tempfile.TemporaryDirectory(prefix="bench-prom-client-") as tmp:
        prom = start_with_history(Path(tmp), [Scenario("m", "bench")], end=end, steps=240)
        try:
            client_s, base_s = [], []
            with (
                PrometheusClient(prom.url, timeout=10) as client,
                httpx.Client(base_url=prom.url, timeout=10, trust_env=False) as raw,
            ):
                params = {"query": query, "time": f"{end:.3f}"}
                assert client.query(query, at=at), "no data for the bench query"
                raw.get("/api/v1/query", params=params).json()
                for _ in range(n):
                    t0 = time.perf_counter()
                    client.query(query, at=at)
                    client_s.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    raw.get("/api/v1/query", params=params).json()["data"]["result"]
                    base_s.append(time.perf_counter() - t0)
        finally:
            prom.stop()
    c, b = statistics.median(client_s) * 1000, statistics.median(base_s) * 1000
    print(f"queries: {n} each, alternating")
    print(f"client (prometheus-api-client): median {c:.2f} ms")
    print(f"baseline (bare httpx GET):      median {b:.2f} ms")
    print(f"ratio client / baseline: {c / b:.2f}x  (added {c - b:+.2f} ms per query)")


if __name__ == "__main__":
    main()
