"""Results of the endpoint integration suite."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TestResult(BaseModel):
    """One test of the suite (health, inference or load)."""

    __test__ = False  # not a pytest test class

    name: str
    passed: bool
    detail: str
    duration_s: float


class LoadResult(BaseModel):
    """Outcome of the concurrent load test.

    Latency percentiles cover the successful requests only; they are None when none succeeded
    (an empty sample has no percentile, and 0 ms would look like a fast endpoint).
    """

    requests: int
    succeeded: int
    failed: int
    success_rate: float
    p50_ms: float | None
    p95_ms: float | None
    rps: float
    concurrency: int
    failure_reasons: dict[str, int] = Field(default_factory=dict)


class SuiteReport(BaseModel):
    """Everything the suite found about one endpoint."""

    base_url: str
    model: str
    passed: bool
    tests: list[TestResult]
    load: LoadResult | None = None
    duration_s: float = 0.0
