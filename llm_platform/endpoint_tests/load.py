"""The concurrent load generator: N requests, at most C in flight, every answer validated."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from llm_platform.endpoint_tests.checks import Api, completion_problem, percentile
from llm_platform.endpoint_tests.models import LoadResult
from llm_platform.endpoint_tests.streaming import generation_body, stream_request
from llm_platform.endpoint_tests.transport import RequestFailed, Transport

LOAD_PROMPT = "Generate a short response"
LOAD_MAX_TOKENS = 8


def _reason_key(problem: str) -> str:
    """Group failures by their kind (first 80 characters, without a trailing parenthesis of
    counts and timings), not by their exact bodies."""
    return problem.splitlines()[0].split(" (", 1)[0][:80]


async def run_load(
    transport: Transport,
    *,
    model: str,
    requests: int,
    concurrency: int,
    max_tokens: int = LOAD_MAX_TOKENS,
    stream: bool = False,
) -> LoadResult:
    """Send ``requests`` completion requests with ``concurrency`` workers.

    A request succeeds only when the response is a valid completion (see
    :func:`~llm_platform.endpoint_tests.checks.completion_problem`), or with ``stream`` a valid
    event stream (:class:`~llm_platform.endpoint_tests.checks.StreamCheck`) finished within the
    transport's timeout; transport errors and timeouts count as failures with their reason.

    Args:
        transport: where to send (built with ``streaming=True`` when ``stream``).
        model: the ``model`` field of each body.
        requests: total number of requests (>= 1).
        concurrency: workers sending in parallel (>= 1).
        max_tokens: tokens asked per request (small: this measures the serving path).
        stream: ask for ``stream: true`` and time the first content chunk of each answer.

    Returns:
        Counts, success rate, latency and time-to-first-token percentiles of the successes,
        throughput and the failure reasons with their counts.
    """
    if requests < 1 or concurrency < 1:
        raise ValueError("requests and concurrency must be >= 1")
    api = Api.COMPLETIONS
    body = generation_body(api, model, LOAD_PROMPT, max_tokens=max_tokens, stream=stream)
    latencies: list[float] = []
    ttfts: list[float] = []
    reasons: Counter[str] = Counter()
    remaining = requests

    async def one() -> str | None:
        if stream:
            outcome = await stream_request(transport, api, body, deadline_s=transport.timeout_s)
            if outcome.problem is None and outcome.ttft_ms is not None:
                latencies.append(outcome.duration_ms)
                ttfts.append(outcome.ttft_ms)
            return outcome.problem
        t0 = time.perf_counter()
        try:
            status, payload = await transport.request("POST", api.value, body)
        except RequestFailed as exc:
            return str(exc)
        problem = completion_problem(status, payload)
        if problem is None:
            latencies.append((time.perf_counter() - t0) * 1000.0)
            ttfts.append(latencies[-1])
        return problem

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            problem = await one()
            if problem is not None:
                reasons[_reason_key(problem)] += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, requests))))
    elapsed = time.perf_counter() - start
    latencies.sort()
    ttfts.sort()
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
        streamed=stream,
        ttft_p50_ms=percentile(ttfts, 50),
        ttft_p95_ms=percentile(ttfts, 95),
        failure_reasons=dict(reasons.most_common(10)),
    )
