"""A thin Prometheus HTTP API client for instant queries (``/api/v1/query``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

import httpx
from pydantic import BaseModel, ConfigDict

from llm_platform.errors import PlatformError


class PrometheusError(PlatformError):
    """Prometheus could not answer: unreachable, HTTP error, or a query it rejected."""


class PromSample(BaseModel):
    """One element of an instant-vector result: its labels and value (NaN kept as NaN)."""

    model_config = ConfigDict(frozen=True)

    labels: dict[str, str]
    value: float


class InstantQueryClient(Protocol):
    """What the SLO evaluator needs from a Prometheus client."""

    def query(self, promql: str, *, at: datetime) -> list[PromSample]:
        """Run an instant query evaluated at ``at``."""
        ...


class PrometheusClient:
    """Instant queries against one Prometheus server over HTTP.

    Every call counts towards ``queries_issued`` (used by benchmarks and tests to prove the
    fleet evaluator issues a constant number of queries).

    Args:
        url: Base URL, e.g. ``http://127.0.0.1:9090``.
        timeout: Seconds per request (connect and read).
        headers: Extra HTTP headers (e.g. ``Authorization``).
    """

    def __init__(
        self, url: str, *, timeout: float = 30.0, headers: dict[str, str] | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.queries_issued = 0
        self._http = httpx.Client(base_url=self.url, timeout=timeout, headers=headers or {})

    def close(self) -> None:
        """Close the underlying HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(self, promql: str, *, at: datetime) -> list[PromSample]:
        """Run an instant query and return its vector (a scalar becomes one unlabelled sample).

        Args:
            promql: The PromQL expression.
            at: Evaluation time (timezone-aware; naive values are taken as UTC).

        Returns:
            The samples of the result vector, possibly empty (no data).

        Raises:
            PrometheusError: Prometheus is unreachable, answered with an HTTP error, rejected
                the query, or returned something that is not an instant vector/scalar.
        """
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        self.queries_issued += 1
        try:
            response = self._http.post(
                "/api/v1/query", data={"query": promql, "time": f"{at.timestamp():.3f}"}
            )
        except httpx.HTTPError as exc:
            raise PrometheusError(f"Prometheus at {self.url} is unreachable: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("status") != "success":
            detail = body.get("error") if isinstance(body, dict) else response.text[:200]
            raise PrometheusError(
                f"Prometheus at {self.url} answered HTTP {response.status_code} for query "
                f"{promql!r}: {detail}"
            )
        return _parse_result(body.get("data"), url=self.url, promql=promql)


def _parse_result(data: object, *, url: str, promql: str) -> list[PromSample]:
    if not isinstance(data, dict):
        raise PrometheusError(f"Prometheus at {url}: response without data for {promql!r}")
    kind, result = data.get("resultType"), data.get("result")
    try:
        if kind == "scalar" and isinstance(result, list):
            return [PromSample(labels={}, value=_to_float(result[1]))]
        if kind == "vector" and isinstance(result, list):
            return [
                PromSample(labels=dict(item["metric"]), value=_to_float(item["value"][1]))
                for item in result
            ]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise PrometheusError(f"Prometheus at {url}: malformed result for {promql!r}") from exc
    raise PrometheusError(f"Prometheus at {url}: expected an instant vector for {promql!r}")


def _to_float(text: object) -> float:
    # Prometheus encodes values as strings: "1.5", "NaN", "+Inf"; float() understands all.
    return float(str(text))
