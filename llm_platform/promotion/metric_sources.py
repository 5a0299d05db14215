"""Where canary analysis reads its numbers: the gateway's own /metrics or Prometheus.

Both sources implement :class:`llm_platform.promotion.analysis.MetricsSource`: ``begin`` marks
the start of the analysis window, ``observe`` returns one :class:`RevisionObservation` per
revision (requests, failures, p95 and, from Prometheus, availability) over the window.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, Field

from llm_platform.config import SLOObjectives
from llm_platform.promotion.analysis import AnalysisTarget, RevisionObservation, finite_or_none
from llm_platform.slo import DEFAULT_PROFILE, InstantQueryClient, MetricProfile, evaluate
from llm_platform.slo.prom import PrometheusError


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus' ``histogram_quantile`` over cumulative bucket counts (``le`` -> count)."""
    edges = sorted(buckets)
    if not edges or not math.isinf(edges[-1]):
        return None
    total = buckets[edges[-1]]
    if total <= 0:
        return None
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le in edges:
        count = buckets[le]
        if count >= rank:
            if math.isinf(le):
                return prev_le
            if count == prev_count:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return prev_le


class _Counts(BaseModel):
    requests: float = 0.0
    failed: float = 0.0
    buckets: dict[float, float] = Field(default_factory=dict)


class GatewayMetricsSource:
    """Diffs the gateway's contract counters between ``begin`` and ``collect``.

    Args:
        gateway_url: the environment gateway's root URL (``/metrics`` is appended).
        timeout_s: per scrape.
    """

    name = "gateway-metrics"
    measures_availability = False

    def __init__(self, gateway_url: str, *, timeout_s: float = 5.0) -> None:
        self.url = gateway_url.rstrip("/") + "/metrics"
        self.timeout_s = timeout_s
        self._before: dict[str, _Counts] = {}

    def _scrape(self, model: str) -> dict[str, _Counts]:
        try:
            resp = httpx.get(self.url, timeout=self.timeout_s, trust_env=False)
            resp.raise_for_status()
        except httpx.HTTPError as exc:
            raise PrometheusError(f"cannot scrape gateway metrics at {self.url}: {exc}") from exc
        out: dict[str, _Counts] = {}
        for family in text_string_to_metric_families(resp.text):
            for s in family.samples:
                if s.labels.get("model") != model or "revision" not in s.labels:
                    continue
                c = out.setdefault(s.labels["revision"], _Counts())
                if s.name == "llm_requests_total":
                    c.requests = s.value
                elif s.name == "llm_requests_failed_total":
                    c.failed = s.value
                elif s.name == "llm_request_duration_seconds_bucket":
                    c.buckets[float(s.labels["le"])] = s.value
        return out

    def begin(self, target: AnalysisTarget) -> None:
        """Snapshot the counters."""
        self._before = self._scrape(target.model)

    def collect(
        self, target: AnalysisTarget, window_s: float
    ) -> tuple[RevisionObservation, RevisionObservation, list[str]]:
        """Snapshot again and turn the differences into observations."""
        after = self._scrape(target.model)

        def observe(revision: str) -> RevisionObservation:
            end = after.get(revision)
            if end is None:
                return RevisionObservation(
                    revision=revision,
                    requests=None,
                    failed=None,
                    error_rate=None,
                    latency_p95_ms=None,
                )
            start = self._before.get(revision, _Counts())
            if end.requests < start.requests:  # the gateway restarted: counters reset
                start = _Counts()
            requests, failed = end.requests - start.requests, end.failed - start.failed
            buckets = {le: n - start.buckets.get(le, 0.0) for le, n in end.buckets.items()}
            p95 = histogram_quantile(0.95, buckets)
            return RevisionObservation(
                revision=revision,
                requests=requests,
                failed=failed,
                error_rate=failed / requests if requests > 0 else None,
                latency_p95_ms=None if p95 is None else p95 * 1000.0,
            )

        return observe(target.canary), observe(target.stable), [f"GET {self.url} (diff)"]


class PrometheusSource:
    """The SLO package's queries, scoped to one revision, over the analysis window.

    Args:
        client: a Prometheus client (``PrometheusClient(url)``).
        settle_s: wait this long at the end of the window so the last scrape lands.
        profile: metric names.
    """

    name = "prometheus"
    measures_availability = True

    def __init__(
        self,
        client: InstantQueryClient,
        *,
        settle_s: float = 2.0,
        profile: MetricProfile = DEFAULT_PROFILE,
    ) -> None:
        self.client, self.settle_s, self.profile = client, settle_s, profile

    def begin(self, target: AnalysisTarget) -> None:
        """Nothing to snapshot: Prometheus keeps the history."""

    def collect(
        self, target: AnalysisTarget, window_s: float
    ) -> tuple[RevisionObservation, RevisionObservation, list[str]]:
        """Evaluate both revisions at now over ``window_s`` (+ settle)."""
        time.sleep(self.settle_s)
        window = f"{max(2, math.ceil(window_s + self.settle_s))}s"
        objectives = SLOObjectives(window=window, min_requests=0)
        at = datetime.now(UTC)
        queries: list[str] = []

        def observe(revision: str) -> RevisionObservation:
            verdict = evaluate(
                self.client,
                model=target.model,
                namespace=target.namespace,
                objectives=objectives,
                profile=self.profile,
                extra_labels={"revision": revision},
                at=at,
            )
            by_name = {o.name: o for o in verdict.objectives}
            queries.extend(o.query for o in verdict.objectives)
            requests, rate = (
                finite_or_none(by_name["error_rate"].samples),
                finite_or_none(by_name["error_rate"].value),
            )
            return RevisionObservation(
                revision=revision,
                requests=requests,
                failed=None if rate is None or requests is None else rate * requests,
                error_rate=rate,
                latency_p95_ms=finite_or_none(by_name["latency_p95"].value),
                availability=finite_or_none(by_name["availability"].value),
            )

        return observe(target.canary), observe(target.stable), queries
