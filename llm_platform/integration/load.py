"""The concurrent load generator: N requests, at most C in flight, every answer validated."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

from llm_platform.integration.checks import completion_problem, percentile
from llm_platform.integration.models import LoadResult
from llm_platform.integration.transport import RequestFailed, Transport

LOAD_PROMPT = "Generate a short response"


def _reason_key(problem: str) -> str:
    """Group failures by their kind (first 80 characters), not by their exact bodies."""
    return problem.splitlines()[0][:80]


async def run_load(
    transport: Transport,
    *,
    model: str,
    requests: int,
    concurrency: int,
    max_tokens: int = 8,
) -> LoadResult:
    """Send ``requests`` completion requests with ``concurrency`` workers.

    A request succeeds only when the response is a valid completion (see
    :func:`~llm_platform.integration.checks.completion_problem`); transport errors and
    timeouts count as failures with their reason.

    Args:
        transport: where to send.
        model: the ``model`` field of each body.
        requests: total number of requests (>= 1).
        concurrency: workers sending in parallel (>= 1).
        max_tokens: tokens asked per request (small: this measures the serving path).

    Returns:
        Counts, success rate, latency percentiles of the successes, throughput and the
        failure reasons with their counts.
    """
    if requests < 1 or concurrency < 1:
        raise ValueError("requests and concurrency must be >= 1")
    body = json.dumps(
        {"model": model, "prompt": LOAD_PROMPT, "max_tokens": max_tokens, "temperature": 0.0}
    ).encode()
    latencies: list[float] = []
    reasons: Counter[str] = Counter()
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter()
            try:
                status, payload = await transport.request("POST", "/v1/completions", body)
            except RequestFailed as exc:
                reasons[_reason_key(str(exc))] += 1
                continue
            problem = completion_problem(status, payload)
            if problem is None:
                latencies.append((time.perf_counter() - t0) * 1000.0)
            else:
                reasons[_reason_key(problem)] += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, requests))))
    elapsed = time.perf_counter() - start
    latencies.sort()
    succeeded = len(latencies)
    return LoadResult(
        requests=requests,
        succeeded=succeeded,
        failed=requests - succeeded,
        success_rate=succeeded / requests,
        p50_ms=percentile(latencies, 50),
        p95_ms=percentile(latencies, 95),
        rps=requests / elapsed if elapsed > 0 else float(requests),
        concurrency=concurrency,
        failure_reasons=dict(reasons.most_common(10)),
    )
