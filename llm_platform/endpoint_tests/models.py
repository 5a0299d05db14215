"""Results of the endpoint integration suite."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TestResult(BaseModel):
    """One test of the suite (health, inference, chat, stream, chat-stream or load).

    ``ttft_ms`` is the time to first token of a generation test: until the first content chunk
    of a stream, or until the whole response of a non-streaming request.
    """

    __test__ = False  # not a pytest test class

    name: str
    passed: bool
    detail: str
    duration_s: float
    ttft_ms: float | None = None


class LoadResult(BaseModel):
    """Outcome of the concurrent load test.

    Latency percentiles cover the successful requests only; they are None when none succeeded
    (an empty sample has no percentile, and 0 ms would look like a fast endpoint). Time to
    first token is measured per request: to the first content chunk when ``streamed``, else
    to the whole response (then it equals the latency).
    """

    requests: int
    succeeded: int
    failed: int
    success_rate: float
    p50_ms: float | None
    p95_ms: float | None
    rps: float
    concurrency: int
    streamed: bool = False
    ttft_p50_ms: float | None = None
    ttft_p95_ms: float | None = None
    failure_reasons: dict[str, int] = Field(default_factory=dict)


class SuiteReport(BaseModel):
    """Everything the suite found about one endpoint."""

    base_url: str
    model: str
    passed: bool
    tests: list[TestResult]
    load: LoadResult | None = None
    duration_s: float = 0.0
