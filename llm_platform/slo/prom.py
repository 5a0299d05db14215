"""Instant queries against Prometheus through ``prometheus-api-client``'s ``PrometheusConnect``.

The library does the HTTP (a ``requests`` session with retries, timeouts and auth headers); this
module keeps the platform's contract on top of it: every failure is a :class:`PrometheusError`
(unreachable, HTTP error, rejected query, malformed answer), never an empty result that could be
read as "no data", and values come back as floats (``NaN`` kept as NaN).

Only instant queries are used: range reads (``get_metric_range_data``) would need an explicit
``end_time`` on every call, because the library computes its default once, at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Protocol

import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from pydantic import BaseModel, ConfigDict
from requests.adapters import Retry

from llm_platform.common.errors import PlatformError

#: Retries of connection errors and gateway-type answers (a Prometheus restarting); kept small
#: so that "Prometheus is down" is reported within seconds, not after the library's default 7 s.
RETRIES = 1
RETRY_BACKOFF_S = 0.2
RETRY_ON_STATUS = (502, 503, 504)


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
    """Instant queries against one Prometheus server.

    Every call counts towards ``queries_issued`` (used by benchmarks and tests to prove the
    fleet evaluator issues a constant number of queries).

    Args:
        url: Base URL, e.g. ``http://127.0.0.1:9090``.
        timeout: Seconds per request (connect and read).
        headers: Extra HTTP headers sent with every request (e.g. ``Authorization`` for a
            secured Prometheus; see :func:`llm_platform.slo.endpoint.auth_headers`). They are
            never put into an error message.
    """

    def __init__(
        self, url: str, *, timeout: float = 30.0, headers: Mapping[str, str] | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.queries_issued = 0
        self._timeout = timeout
        retry = Retry(
            total=RETRIES,
            backoff_factor=RETRY_BACKOFF_S,
            status_forcelist=RETRY_ON_STATUS,
            raise_on_status=False,
        )
        self._prom = PrometheusConnect(
            url=self.url,
            headers=dict(headers or {}),
            retry=retry,
            timeout=timeout,  # type: ignore[arg-type]  # requests accepts float seconds
            method="GET",
        )

    def close(self) -> None:
        """Close the underlying HTTP connection pool."""
        self._prom.close()

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
            result = self._prom.custom_query(promql, params={"time": f"{at.timestamp():.3f}"})
        except requests.Timeout as exc:
            raise PrometheusError(
                f"Prometheus at {self.url} did not answer within {self._timeout:g} s"
            ) from exc
        except (ValueError, KeyError, TypeError) as exc:
            # Not Prometheus' JSON envelope (requests' JSONDecodeError is a ValueError too).
            raise PrometheusError(
                f"Prometheus at {self.url}: HTTP 200 without a query result for {promql!r}"
            ) from exc
        except requests.RequestException as exc:
            raise PrometheusError(
                f"Prometheus at {self.url} is unreachable: {type(exc).__name__}"
            ) from exc
        except PrometheusApiClientException as exc:
            # The message is the status code and Prometheus' own JSON error body.
            raise PrometheusError(
                f"Prometheus at {self.url} refused query {promql!r}: {str(exc)[:300]}"
            ) from exc
        return _parse_result(result, url=self.url, promql=promql)


def _parse_result(result: object, *, url: str, promql: str) -> list[PromSample]:
    # custom_query returns ``data.result`` only: a list of {"metric", "value"} objects for an
    # instant vector, or ``[timestamp, "value"]`` for a scalar.
    if not isinstance(result, list):
        raise PrometheusError(f"Prometheus at {url}: expected an instant vector for {promql!r}")
    # A range vector has "values" instead of "value": the KeyError below reports it.
    try:
        if len(result) == 2 and not isinstance(result[0], dict):
            return [PromSample(labels={}, value=_to_float(result[1]))]
        return [
            PromSample(labels=dict(item["metric"]), value=_to_float(item["value"][1]))
            for item in result
        ]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise PrometheusError(
            f"Prometheus at {url}: malformed result (expected an instant vector) for {promql!r}"
        ) from exc


def _to_float(text: object) -> float:
    # Prometheus encodes values as strings: "1.5", "NaN", "+Inf"; float() understands all.
    return float(str(text))
