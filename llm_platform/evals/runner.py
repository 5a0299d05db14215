"""Run a suite against an OpenAI-compatible endpoint and score every answer.

Same URL scheme as ``test-endpoint``: ``http://<gateway>/<model>`` (or an engine's own root);
``prompt`` cases go to ``URL/v1/completions``, ``messages`` cases to
``URL/v1/chat/completions``. Every request is greedy (temperature 0, a fixed seed), so the same
model answers the same way on the candidate and the baseline. A request that gets no valid
answer makes its case unscorable (``passed=None``), never a pass or a fail; an endpoint that
answers nothing at all raises :class:`EndpointUnreachable`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field

from llm_platform.common.errors import PlatformError
from llm_platform.config.eval_suite import EvalCase, EvalSuite, suite_hash
from llm_platform.endpoint_tests.checks import Api
from llm_platform.endpoint_tests.transport import RequestFailed, Transport
from llm_platform.evals.guards import guard_failures
from llm_platform.evals.scoring import matches

#: The seed sent with every request (with temperature 0 it only matters to engines that
#: sample anyway).
EVAL_SEED = 1234
#: Requests in flight at once per endpoint.
DEFAULT_CONCURRENCY = 4
DEFAULT_TIMEOUT_S = 60.0
#: Error bodies are cut to this many characters in results.
_SNIPPET = 300

Progress = Callable[[int, int], None]


class EndpointUnreachable(PlatformError):
    """The endpoint could not be reached at all (no HTTP response to any request)."""

    def __init__(self, url: str, detail: str) -> None:
        self.url = url
        self.detail = detail
        super().__init__(f"{url}: endpoint unreachable ({detail})")


class CaseResult(BaseModel):
    """One case's outcome: ``passed`` is None when it could not be scored (request error)."""

    id: str
    kind: Literal["completion", "chat"]
    passed: bool | None
    output: str = ""
    guard_failures: list[str] = Field(default_factory=list)
    error: str | None = None
    latency_s: float = 0.0
    expect: str = Field(default="", description="the expectation kind the output was scored on")


class SuiteRun(BaseModel):
    """Every case's result from one endpoint, in suite order."""

    results: list[CaseResult]
    model: str
    url: str
    suite_hash: str
    duration_s: float
    concurrency: int

    @property
    def passed(self) -> int:
        """Cases scored as passed."""
        return sum(1 for result in self.results if result.passed)

    @property
    def failed(self) -> int:
        """Cases scored as failed (expectation or guard)."""
        return sum(1 for result in self.results if result.passed is False)

    @property
    def unscored(self) -> int:
        """Cases that could not be scored (request errors)."""
        return sum(1 for result in self.results if result.passed is None)


def request_body(case: EvalCase, model: str) -> bytes:
    """The greedy OpenAI request body for ``case``."""
    payload: dict[str, Any] = {
        "model": model,
        "max_tokens": case.max_tokens,
        "temperature": 0.0,
        "seed": EVAL_SEED,
    }
    if case.prompt is not None:
        payload["prompt"] = case.prompt
    else:
        assert case.messages is not None
        payload["messages"] = [message.model_dump() for message in case.messages]
    if case.stop:
        payload["stop"] = list(case.stop)
    return json.dumps(payload).encode()


def api_of(case: EvalCase) -> Api:
    """The API (request path) a case goes to."""
    return Api.COMPLETIONS if case.kind == "completion" else Api.CHAT


def parse_answer(api: Api, status: int, body: bytes) -> tuple[str | None, str | None]:
    """``(output, None)`` from a successful response, else ``(None, why not)``.

    An empty answer is an answer (the empty-output guard fails it); a missing one is not.
    """
    snippet = body[:_SNIPPET].decode("utf-8", errors="replace")
    if status != 200:
        return None, f"HTTP {status}: {snippet}"
    try:
        data = json.loads(body)
        choice = data["choices"][0]
        text = choice["text"] if api is Api.COMPLETIONS else choice["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None, f"not an OpenAI {api.value} response: {snippet}"
    if text is None and api is Api.CHAT:
        text = ""
    if not isinstance(text, str):
        return None, f"answer is not a string: {snippet}"
    return text, None


def score_case(case: EvalCase, output: str, latency_s: float) -> CaseResult:
    """Score one answer: the expectation and every guard must pass."""
    guards = [str(guard) for guard in guard_failures(output)]
    return CaseResult(
        id=case.id,
        kind=case.kind,
        passed=not guards and matches(case.expect, output),
        output=output,
        guard_failures=guards,
        latency_s=latency_s,
        expect=case.expect.kind,
    )


class _Tally:
    """Shared state of one run: answers seen, connection failures, whether to give up."""

    def __init__(self, total: int, concurrency: int, progress: Progress | None) -> None:
        self.total = total
        self.done = 0
        self.responses = 0
        self.failures = 0
        self.give_up_after = min(concurrency, total)
        self.last_failure = ""
        self.progress = progress
        #: Set once the first ``give_up_after`` requests all failed without a response; the
        #: remaining cases are then not sent.
        self.unreachable = False

    def failed(self, exc: RequestFailed) -> None:
        self.failures += 1
        self.last_failure = str(exc)
        if self.responses == 0 and self.failures >= self.give_up_after:
            self.unreachable = True
        self.finished()

    def finished(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)


async def _run_case(
    transport: Transport, case: EvalCase, model: str, gate: asyncio.Semaphore, tally: _Tally
) -> CaseResult | None:
    async with gate:
        if tally.unreachable:
            return None
        api = api_of(case)
        started = time.perf_counter()
        try:
            status, body = await transport.request("POST", api.value, request_body(case, model))
        except RequestFailed as exc:
            tally.failed(exc)
            return CaseResult(
                id=case.id,
                kind=case.kind,
                passed=None,
                error=f"no response: {exc}",
                latency_s=time.perf_counter() - started,
                expect=case.expect.kind,
            )
        latency = time.perf_counter() - started
        tally.responses += 1
        output, error = parse_answer(api, status, body)
        tally.finished()
        if output is None:
            return CaseResult(
                id=case.id,
                kind=case.kind,
                passed=None,
                error=error,
                latency_s=latency,
                expect=case.expect.kind,
            )
        return score_case(case, output, latency)


async def arun_suite(
    base_url: str,
    *,
    model: str,
    suite: EvalSuite,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    progress: Progress | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> SuiteRun:
    """Async form of :func:`run_suite` (for callers already inside an event loop)."""
    started = time.perf_counter()
    transport = Transport(base_url, timeout_s=timeout_s, connections=concurrency)
    tally = _Tally(len(suite.cases), concurrency, progress)
    gate = asyncio.Semaphore(concurrency)
    try:
        outcomes = await asyncio.gather(
            *(_run_case(transport, case, model, gate, tally) for case in suite.cases)
        )
    finally:
        await transport.aclose()
    if tally.unreachable:
        raise EndpointUnreachable(transport.base_url, tally.last_failure)
    results = [outcome for outcome in outcomes if outcome is not None]
    return SuiteRun(
        results=results,
        model=model,
        url=transport.base_url,
        suite_hash=suite_hash(suite),
        duration_s=time.perf_counter() - started,
        concurrency=concurrency,
    )


def run_suite(
    base_url: str,
    *,
    model: str,
    suite: EvalSuite,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    progress: Progress | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> SuiteRun:
    """Send every case of ``suite`` to ``base_url`` (greedy, bounded concurrency) and score it.

    Args:
        base_url: Endpoint root, e.g. ``http://127.0.0.1:8080/<model>``.
        model: The model name sent in every request body.
        suite: The cases to run.
        timeout_s: Seconds per request.
        progress: Called with ``(done, total)`` after each case.
        concurrency: Requests in flight at once.

    Returns:
        Every case's result, in suite order.

    Raises:
        EndpointUnreachable: No request got an HTTP response (refused, timed out, ...).
        ValueError: ``base_url`` is not an http(s) URL.
    """
    return asyncio.run(
        arun_suite(
            base_url,
            model=model,
            suite=suite,
            timeout_s=timeout_s,
            progress=progress,
            concurrency=concurrency,
        )
    )
