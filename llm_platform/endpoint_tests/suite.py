"""The endpoint integration suite: health, one inference, then concurrent load."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from llm_platform.endpoint_tests.checks import Api, chat_problem, completion_problem, health_problem
from llm_platform.endpoint_tests.load import run_load
from llm_platform.endpoint_tests.models import LoadResult, SuiteReport, TestResult
from llm_platform.endpoint_tests.streaming import generation_body, stream_request
from llm_platform.endpoint_tests.transport import RequestFailed, Transport
from llm_platform.serving.openai_paths import HEALTH_PATH

INFERENCE_PROMPT = "The quick brown fox"
CHAT_PROMPT = "Say hello in a few words."
#: Tokens asked by each single generation test: enough to see text, small enough to be quick.
GENERATION_MAX_TOKENS = 16


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


def _prompt(api: Api) -> str:
    return CHAT_PROMPT if api is Api.CHAT else INFERENCE_PROMPT


def _answer(api: Api, data: dict[str, Any]) -> str:
    """A short description of a checked non-streaming answer."""
    if api is Api.CHAT:
        return repr(data["choices"][0]["message"]["content"][:60])
    return f"{data['usage']['completion_tokens']} tokens: {data['choices'][0]['text'][:60]!r}"


async def _generate(transport: Transport, api: Api, model: str) -> TestResult:
    """One non-streaming request; its time to first token is the whole response."""
    t0 = time.perf_counter()
    body = generation_body(api, model, _prompt(api), max_tokens=GENERATION_MAX_TOKENS, stream=False)
    check = chat_problem if api is Api.CHAT else completion_problem
    try:
        status, payload = await transport.request("POST", api.value, body)
        problem = check(status, payload)
    except RequestFailed as exc:
        problem = f"no response: {exc}"
    ms = (time.perf_counter() - t0) * 1000.0
    return TestResult(
        name="chat" if api is Api.CHAT else "inference",
        passed=problem is None,
        detail=problem or f"POST {api.value} -> {_answer(api, json.loads(payload))}",
        duration_s=ms / 1000.0,
        ttft_ms=ms if problem is None else None,
    )


async def _stream(transport: Transport, api: Api, model: str) -> TestResult:
    body = generation_body(api, model, _prompt(api), max_tokens=GENERATION_MAX_TOKENS, stream=True)
    out = await stream_request(transport, api, body, deadline_s=transport.timeout_s)
    if out.problem is None:
        detail = (
            f"POST {api.value} (stream) -> {out.content_chunks} content chunks in "
            f"{out.events} events, first after {out.ttft_ms:.0f} ms: {out.text[:60]!r}"
        )
    else:
        detail = out.problem
    return TestResult(
        name="chat-stream" if api is Api.CHAT else "stream",
        passed=out.problem is None,
        detail=detail,
        duration_s=out.duration_ms / 1000.0,
        ttft_ms=out.ttft_ms if out.problem is None else None,
    )


async def arun_suite(
    base_url: str,
    *,
    model: str,
    health_path: str = HEALTH_PATH,
    concurrency: int = 8,
    requests: int = 50,
    min_success_rate: float = 0.8,
    timeout_s: float = 30,
    stream: bool = False,
    chat: bool = False,
) -> SuiteReport:
    """Async form of :func:`run_suite` (for callers already inside an event loop)."""
    if not health_path.startswith("/"):
        health_path = "/" + health_path
    started = time.perf_counter()
    transport = Transport(base_url, timeout_s=timeout_s, connections=concurrency, streaming=stream)
    try:
        tests = [
            await _health(transport, health_path),
            await _generate(transport, Api.COMPLETIONS, model),
        ]
        if chat:
            tests.append(await _generate(transport, Api.CHAT, model))
        if stream:
            await transport.warm_up(health_path)
            tests.append(await _stream(transport, Api.COMPLETIONS, model))
        if stream and chat:
            tests.append(await _stream(transport, Api.CHAT, model))
        # The load test sends what these tests sent once (completions, streamed or not).
        load_like = {"inference", "stream"} if stream else {"inference"}
        broken = [t.name for t in tests if t.name in load_like and not t.passed]
        load = None
        if broken:
            # The endpoint cannot generate: the load test would only repeat that failure
            # ``requests`` times, each into its timeout (minutes for a stalled stream).
            tests.append(
                TestResult(
                    name="load",
                    passed=False,
                    detail=f"not run: the {', '.join(broken)} test failed",
                    duration_s=0.0,
                )
            )
            return _report(base_url, model, tests, load, started)
        t0 = time.perf_counter()
        load = await run_load(
            transport, model=model, requests=requests, concurrency=concurrency, stream=stream
        )
        ok = load.success_rate >= min_success_rate
        detail = (
            f"{load.succeeded}/{load.requests} {'streams ' if stream else ''}succeeded "
            f"({load.success_rate:.1%}, minimum {min_success_rate:.0%}) at concurrency "
            f"{concurrency}, {load.rps:.1f} req/s"
        )
        if load.failure_reasons:
            top = "; ".join(f"{n}× {r}" for r, n in load.failure_reasons.items())
            detail += f"; failures: {top}"
        tests.append(
            TestResult(name="load", passed=ok, detail=detail, duration_s=time.perf_counter() - t0)
        )
    finally:
        await transport.aclose()
    return _report(base_url, model, tests, load, started)


def _report(
    base_url: str, model: str, tests: list[TestResult], load: LoadResult | None, started: float
) -> SuiteReport:
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
    health_path: str = HEALTH_PATH,
    concurrency: int = 8,
    requests: int = 50,
    min_success_rate: float = 0.8,
    timeout_s: float = 30,
    stream: bool = False,
    chat: bool = False,
) -> SuiteReport:
    """Run the integration suite against one model endpoint.

    Always: health, one completion, concurrent load (not run when a generation test already
    failed: it would only repeat that failure into every timeout). ``chat`` adds a chat completion;
    ``stream`` adds a streamed completion (and a streamed chat completion with ``chat``) and
    makes the load test stream, so that its time to first token is the first content chunk.

    Args:
        base_url: the endpoint root; for the gateway ``http://<gateway>/<model>``.
        model: the ``model`` field sent in completion requests.
        health_path: health endpoint below ``base_url`` (``/v1/models`` for servers without
            ``/health``).
        concurrency: requests in flight during the load test.
        requests: total requests of the load test.
        min_success_rate: the load test fails below this fraction of valid completions.
        timeout_s: per-request timeout; for a stream, the deadline of the whole stream (a
            server that stalls mid-stream fails the test at this deadline).
        stream: test ``stream: true`` (Server-Sent Events) on ``/v1/completions``.
        chat: test ``/v1/chat/completions``.

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
        stream=stream,
        chat=chat,
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
        lines.append(f"  [{mark}] {t.name:<11} {t.detail} ({t.duration_s * 1000:.0f} ms)")
    lines += [f"  {line}" for line in latency_lines(report)]
    verdict = "PASSED" if report.passed else "FAILED"
    lines.append(f"Result: {verdict} ({sum(t.passed for t in report.tests)}/{len(report.tests)})")
    return "\n".join(lines)


def latency_lines(report: SuiteReport) -> list[str]:
    """The load test's latency and time-to-first-token percentiles, one line each."""
    load = report.load
    if load is None or load.p50_ms is None or load.p95_ms is None:
        return []
    lines = [f"load latency: p50 {load.p50_ms:.1f} ms, p95 {load.p95_ms:.1f} ms"]
    if load.ttft_p50_ms is not None and load.ttft_p95_ms is not None:
        how = "first content chunk" if load.streamed else "whole response, not streamed"
        lines.append(
            f"time to first token: p50 {load.ttft_p50_ms:.1f} ms, "
            f"p95 {load.ttft_p95_ms:.1f} ms ({how}, {load.succeeded} requests)"
        )
    return lines
