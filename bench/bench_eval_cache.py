"""``output_quality`` re-check: production's answers from the baseline cache vs asked again.

One run starts a real llama.cpp server (Gemma 3 270M Q4_K_M, the registry's argv) that plays
both candidate and production, and alternates two ways of checking the example suite:
  * uncached: ``evaluate_quality`` with an empty cache (candidate and production asked, what
    the first check of a candidate against a new production costs);
  * cached: the same call with the cache holding production's run for (digest, engine, suite
    hash) (what every further check against an unchanged production costs).
Prints the median wall time of each and the ratio cached / uncached (about 1/2: the baseline
half is gone). Loopback only; the server is stopped by PID at the end.

    .venv/bin/python bench/bench_eval_cache.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from _engine import gemma_server

from llm_platform.config.eval_suite import EvalSuite, load_suite
from llm_platform.demo.gemma import EXAMPLE_SUITE, GEMMA_MODEL
from llm_platform.evals.baseline_cache import BaselineCache
from llm_platform.evals.quality_check import BaselineTarget, evaluate_quality


def check(url: str, suite: EvalSuite, target: BaselineTarget, cache: BaselineCache) -> float:
    """Seconds for one output-quality check of ``url`` against ``target``."""
    t0 = time.perf_counter()
    outcome = evaluate_quality(
        model=GEMMA_MODEL, suite=suite, candidate_url=url, baseline=target, cache=cache
    )
    if outcome.status != "pass":
        raise RuntimeError(f"identical builds must pass: {outcome.reason}")
    return time.perf_counter() - t0


def main() -> int:
    """Run the benchmark and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round instead of 3")
    args = parser.parse_args()
    rounds = 1 if args.quick else 3
    suite = load_suite(EXAMPLE_SUITE)
    with gemma_server(context_size=512, max_batch_size=1) as server:
        url = server.url
        target = BaselineTarget(
            url=url, digest=server.digest, engine="llama-cpp", revision="bench", version="1.0.0"
        )
        warm = BaselineCache(server.workdir / "warm")
        check(url, suite, target, warm)  # warm-up; fills the warm cache
        uncached, cached = [], []
        for i in range(rounds):
            uncached.append(check(url, suite, target, BaselineCache(server.workdir / f"cold{i}")))
            cached.append(check(url, suite, target, warm))
    u, c = statistics.median(uncached), statistics.median(cached)
    print(
        f"output_quality re-check: {len(suite.cases)}-case suite on llama.cpp {GEMMA_MODEL} "
        f"Q4_K_M, {rounds} alternating round(s); load average {os.getloadavg()[0]:.1f}"
    )
    print(f"  uncached (candidate + production asked): median {u:6.2f} s")
    print(f"  cached (production from the cache):      median {c:6.2f} s")
    print(f"  ratio cached / uncached:                 {c / u:6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
