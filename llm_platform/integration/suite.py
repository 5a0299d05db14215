"""The endpoint integration suite: health, one inference, then concurrent load."""

from __future__ import annotations

import asyncio
import json
import time

from llm_platform.integration.checks import completion_problem, health_problem
from llm_platform.integration.load import run_load
from llm_platform.integration.models import SuiteReport, TestResult
from llm_platform.integration.transport import RequestFailed, Transport

INFERENCE_PROMPT = "The quick brown fox"


async def _health(transport: Transport, health_path: str) -> TestResult:
    t0 = time.perf_counter()
    try:
        status, body = await transport.request("GET", health_path)
        problem = health_problem(status, body)
    except RequestFailed as exc:
        problem = f"no response: {exc}"
    detail = problem or f"GET {health_path} -> 200 with a JSON body"
    return TestResult(
        name="health", passed=problem is None, detail=detail, duration_s=time.perf_counter() - t0
    )


async def _inference(transport: Transport, model: str) -> TestResult:
    t0 = time.perf_counter()
    payload = {"model": model, "prompt": INFERENCE_PROMPT, "max_tokens": 16, "temperature": 0.0}
    try:
        status, body = await transport.request(
            "POST", "/v1/completions", json.dumps(payload).encode()
        )
        problem = completion_problem(status, body)
    except RequestFailed as exc:
        problem = f"no response: {exc}"
    if problem is None:
        data = json.loads(body)
        detail = (
            f"POST /v1/completions -> {data['usage']['completion_tokens']} tokens: "
            f"{data['choices'][0]['text'][:60]!r}"
        )
    else:
        detail = problem
    return TestResult(
        name="inference",
        passed=problem is None,
        detail=detail,
        duration_s=time.perf_counter() - t0,
    )


async def arun_suite(
    base_url: str,
    *,
    model: str,
    health_path: str = "/health",
    concurrency: int = 8,
    requests: int = 50,
    min_success_rate: float = 0.8,
    timeout_s: float = 30,
) -> SuiteReport:
    """Async form of :func:`run_suite` (for callers already inside an event loop)."""
    if not health_path.startswith("/"):
        health_path = "/" + health_path
    started = time.perf_counter()
    transport = Transport(base_url, timeout_s=timeout_s, connections=concurrency)
    try:
        tests = [await _health(transport, health_path), await _inference(transport, model)]
        t0 = time.perf_counter()
        load = await run_load(transport, model=model, requests=requests, concurrency=concurrency)
        ok = load.success_rate >= min_success_rate
        detail = (
            f"{load.succeeded}/{load.requests} succeeded ({load.success_rate:.1%}, "
            f"minimum {min_success_rate:.0%}) at concurrency {concurrency}, "
            f"{load.rps:.1f} req/s"
        )
        if load.failure_reasons:
            top = "; ".join(f"{n}× {r}" for r, n in load.failure_reasons.items())
            detail += f"; failures: {top}"
        tests.append(
            TestResult(name="load", passed=ok, detail=detail, duration_s=time.perf_counter() - t0)
        )
    finally:
        await transport.aclose()
    return SuiteReport(
        base_url=base_url,
        model=model,
        passed=all(t.passed for t in tests),
        tests=tests,
        load=load,
        duration_s=time.perf_counter() - started,
    )


def run_suite(
    base_url: str,
    *,
    model: str,
    health_path: str = "/health",
    concurrency: int = 8,
    requests: int = 50,
    min_success_rate: float = 0.8,
    timeout_s: float = 30,
) -> SuiteReport:
    """Run the integration suite against one model endpoint.

    Args:
        base_url: the endpoint root; for the gateway ``http://<gateway>/<model>``.
        model: the ``model`` field sent in completion requests.
        health_path: health endpoint below ``base_url`` (``/v1/models`` for servers without
            ``/health``).
        concurrency: requests in flight during the load test.
        requests: total requests of the load test.
        min_success_rate: the load test fails below this fraction of valid completions.
        timeout_s: per-request timeout.

    Returns:
        The report; ``passed`` is True only when every test passed.

    Raises:
        ValueError: bad arguments (URL scheme, counts < 1, rate outside [0, 1]).
        RuntimeError: called from a running event loop (use :func:`arun_suite` there).
    """
    if not 0.0 <= min_success_rate <= 1.0:
        raise ValueError(f"min_success_rate must be within [0, 1], got {min_success_rate}")
    if requests < 1 or concurrency < 1:
        raise ValueError("requests and concurrency must be >= 1")
    coro = arun_suite(
        base_url,
        model=model,
        health_path=health_path,
        concurrency=concurrency,
        requests=requests,
        min_success_rate=min_success_rate,
        timeout_s=timeout_s,
    )
    try:
        import uvloop
    except ImportError:  # uvloop is optional: the standard loop works, a little slower
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def render_text(report: SuiteReport) -> str:
    """A readable multi-line summary of a report."""
    lines = [f"Integration suite for model {report.model!r} at {report.base_url}"]
    for t in report.tests:
        mark = "PASS" if t.passed else "FAIL"
        lines.append(f"  [{mark}] {t.name:<9} {t.detail} ({t.duration_s * 1000:.0f} ms)")
    if report.load is not None and report.load.p50_ms is not None:
        lines.append(
            f"  load latency: p50 {report.load.p50_ms:.1f} ms, p95 {report.load.p95_ms:.1f} ms"
        )
    verdict = "PASSED" if report.passed else "FAILED"
    lines.append(f"Result: {verdict} ({sum(t.passed for t in report.tests)}/{len(report.tests)})")
    return "\n".join(lines)
