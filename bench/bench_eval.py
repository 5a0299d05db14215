"""Output-quality eval overhead: a 40-case suite through ``run_suite`` vs the same requests bare.

One run starts a real llama.cpp server (Gemma 3 270M Q4_K_M, the registry's argv) and, in
alternating rounds (so the machine's load drift hits both sides), sends the example suite's 40
greedy requests
  * bare: the same request bodies through the same transport and concurrency (4), bodies
    read and dropped — what any client pays;
  * eval: ``run_suite`` (parse, guards, expectations, results) + ``judge_quality``.
Prints the median wall time of each and the ratio eval / bare (the harness overhead; the
server's generation dominates both, so on a loaded machine the ratio is mostly load noise),
plus the CPU cost of scoring alone per case (what the harness itself adds).
Loopback only; the server is stopped by PID at the end.

    .venv/bin/python bench/bench_eval.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time

from _engine import gemma_server

from llm_platform.config.eval_suite import EvalSuite, load_suite
from llm_platform.demo.gemma import EXAMPLE_SUITE, GEMMA_MODEL
from llm_platform.endpoint_tests.transport import Transport
from llm_platform.evals import judge_quality, run_suite
from llm_platform.evals.runner import DEFAULT_CONCURRENCY, api_of, request_body, score_case


async def _bare(url: str, suite: EvalSuite) -> None:
    transport = Transport(url, timeout_s=120, connections=DEFAULT_CONCURRENCY)
    gate = asyncio.Semaphore(DEFAULT_CONCURRENCY)

    async def one(index: int) -> None:
        case = suite.cases[index]
        async with gate:
            status, _ = await transport.request(
                "POST", api_of(case).value, request_body(case, GEMMA_MODEL)
            )
            if status != 200:
                raise RuntimeError(f"HTTP {status} for {case.id}")

    try:
        await asyncio.gather(*(one(i) for i in range(len(suite.cases))))
    finally:
        await transport.aclose()


def bare(url: str, suite: EvalSuite) -> float:
    """Seconds to send the suite's requests bare."""
    t0 = time.perf_counter()
    asyncio.run(_bare(url, suite))
    return time.perf_counter() - t0


def evaluated(url: str, suite: EvalSuite) -> tuple[float, int]:
    """Seconds for run_suite + judge_quality; and how many cases passed."""
    t0 = time.perf_counter()
    run = run_suite(url, model=GEMMA_MODEL, suite=suite, timeout_s=120)
    judge_quality(run, None, suite.gate)
    return time.perf_counter() - t0, run.passed


def scoring_cost_us(suite: EvalSuite, outputs: dict[str, str], repeat: int) -> float:
    """CPU microseconds to score one case (expectation + every guard), averaged."""
    t0 = time.process_time()
    for _ in range(repeat):
        for case in suite.cases:
            score_case(case, outputs[case.id], 0.0)
    return (time.process_time() - t0) / (repeat * len(suite.cases)) * 1e6


def main() -> int:
    """Run the benchmark and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds instead of 5")
    args = parser.parse_args()
    rounds = 2 if args.quick else 5
    suite = load_suite(EXAMPLE_SUITE)
    with gemma_server(context_size=512, max_batch_size=1) as server:
        url = server.url
        bare(url, suite)  # warm-up: the engine's first requests load its caches
        bare_s, eval_s, passed = [], [], 0
        for _ in range(rounds):
            bare_s.append(bare(url, suite))
            seconds, passed = evaluated(url, suite)
            eval_s.append(seconds)
        outputs = {r.id: r.output for r in run_suite(url, model=GEMMA_MODEL, suite=suite).results}
    b, e = statistics.median(bare_s), statistics.median(eval_s)
    per_case = scoring_cost_us(suite, outputs, 20 if args.quick else 100)
    print(
        f"llm-platform eval: {len(suite.cases)}-case suite on llama.cpp {GEMMA_MODEL} Q4_K_M, "
        f"concurrency {DEFAULT_CONCURRENCY}, {rounds} alternating rounds; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    rounded = ", ".join(f"{s:.2f}" for s in bare_s)
    print(f"  bare requests (same bodies, same transport): median {b:6.2f} s  ({rounded})")
    print(f"  run_suite + judge_quality:                   median {e:6.2f} s  ({passed} passed)")
    print(f"  overhead ratio eval / bare:                  {e / b:6.3f}  (the server dominates)")
    print(f"  scoring alone (expectation + guards):        {per_case:6.1f} us per case (CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
