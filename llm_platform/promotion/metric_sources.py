"""Where canary analysis reads its numbers: the gateway's own /metrics or Prometheus.

Both sources implement :class:`llm_platform.promotion.analysis.MetricsSource`: ``begin`` marks
the start of the analysis window, ``collect`` returns one :class:`RevisionObservation` per
revision over the window: requests, failures and a value per objective of the SLO registry the
source can measure (the gateway: error rate and the histogram p95s; Prometheus: all of them).
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, Field

from llm_platform.promotion.analysis import (
    AnalysisTarget,
    RevisionObservation,
    SampleSnapshot,
    finite_or_none,
)
from llm_platform.slo import (
    DEFAULT_PROFILE,
    OBJECTIVES,
    InstantQueryClient,
    MetricProfile,
    build_queries,
)
from llm_platform.slo.profiles import Scope
from llm_platform.slo.prom import PrometheusError, PromSample

#: Objectives measured as the p95 of one of the gateway's histograms (by histogram name).
_GATEWAY_P95 = {o.histogram(DEFAULT_PROFILE): o.name for o in OBJECTIVES if o.histogram is not None}


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
    buckets: dict[str, dict[float, float]] = Field(default_factory=dict)


class GatewayMetricsSource:
    """Diffs the gateway's contract counters between ``begin`` and ``collect``.

    Args:
        gateway_url: the environment gateway's root URL (``/metrics`` is appended).
        timeout_s: per scrape.
    """

    name = "gateway-metrics"
    measures = frozenset({"error_rate", *_GATEWAY_P95.values()})

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
                if s.name == DEFAULT_PROFILE.requests_total:
                    c.requests = s.value
                elif s.name == DEFAULT_PROFILE.requests_failed:
                    c.failed = s.value
                elif s.name.endswith("_bucket") and s.name[: -len("_bucket")] in _GATEWAY_P95:
                    hist = c.buckets.setdefault(s.name[: -len("_bucket")], {})
                    hist[float(s.labels["le"])] = s.value
        return out

    def begin(self, target: AnalysisTarget) -> None:
        """Snapshot the counters."""
        self._before = self._scrape(target.model)

    def _since_begin(self, after: dict[str, _Counts], revision: str) -> _Counts | None:
        end = after.get(revision)
        if end is None:
            return None
        start = self._before.get(revision, _Counts())
        if end.requests < start.requests:  # the gateway restarted: counters reset
            start = _Counts()
        return _Counts(
            requests=end.requests - start.requests,
            failed=end.failed - start.failed,
            buckets={
                hist: {le: n - start.buckets.get(hist, {}).get(le, 0.0) for le, n in b.items()}
                for hist, b in end.buckets.items()
            },
        )

    def snapshot(self, target: AnalysisTarget) -> tuple[SampleSnapshot, SampleSnapshot, list[str]]:
        """Counters and latency buckets of both revisions accumulated since ``begin``."""
        after = self._scrape(target.model)

        def one(revision: str) -> SampleSnapshot:
            c = self._since_begin(after, revision)
            if c is None:
                return SampleSnapshot(revision=revision)
            buckets = {_GATEWAY_P95[h]: b for h, b in c.buckets.items() if h in _GATEWAY_P95}
            return SampleSnapshot(
                revision=revision, requests=c.requests, failed=c.failed, buckets=buckets
            )

        return one(target.canary), one(target.stable), [f"GET {self.url} (diff)"]

    def collect(
        self, target: AnalysisTarget, window_s: float
    ) -> tuple[RevisionObservation, RevisionObservation, list[str]]:
        """Snapshot again and turn the differences into observations."""
        after = self._scrape(target.model)

        def observe(revision: str) -> RevisionObservation:
            c = self._since_begin(after, revision)
            if c is None:
                return RevisionObservation(revision=revision, requests=None, failed=None)
            requests, failed = c.requests, c.failed
            values: dict[str, float | None] = {
                "error_rate": failed / requests if requests > 0 else None
            }
            for hist, name in _GATEWAY_P95.items():
                p95 = histogram_quantile(0.95, c.buckets.get(hist, {}))
                values[name] = None if p95 is None else p95 * 1000.0
            return RevisionObservation(
                revision=revision, requests=requests, failed=failed, values=values
            )

        return observe(target.canary), observe(target.stable), [f"GET {self.url} (diff)"]


class PrometheusSource:
    """The SLO registry's queries, scoped to one revision, over the analysis window.

    Args:
        client: a Prometheus client (``connect(url)``).
        settle_s: wait this long at the end of the window so the last scrape lands.
        profile: metric names.
    """

    name = "prometheus"
    measures = frozenset(o.name for o in OBJECTIVES)

    def __init__(
        self,
        client: InstantQueryClient,
        *,
        settle_s: float = 2.0,
        profile: MetricProfile = DEFAULT_PROFILE,
    ) -> None:
        self.client, self.settle_s, self.profile = client, settle_s, profile
        self._began: float | None = None

    def begin(self, target: AnalysisTarget) -> None:
        """Remember when the analysis began (Prometheus keeps the history)."""
        self._began = time.time()

    def snapshot(self, target: AnalysisTarget) -> tuple[SampleSnapshot, SampleSnapshot, list[str]]:
        """``increase()`` of the counters and latency buckets since ``begin`` (rounded by the
        caller; the extrapolation of ``increase`` can make them fractional)."""
        began = self._began
        if began is None:
            raise PrometheusError("PrometheusSource.snapshot before begin")
        window = f"{max(2, math.ceil(time.time() - began))}s"
        at = datetime.now(UTC)
        queries: list[str] = []

        def value(query: str) -> float | None:
            queries.append(query)
            return self._one(self.client.query(query, at=at), query)

        def one(revision: str) -> SampleSnapshot:
            scope = Scope(
                self.profile,
                namespace=target.namespace,
                window=window,
                model=target.model,
                extra_labels={"revision": revision},
            )
            buckets: dict[str, dict[float, float]] = {}
            for o in OBJECTIVES:
                if o.histogram is None:
                    continue
                sel = scope.select(self.profile.model_label, {})
                query = f"sum by (le) (increase({o.histogram(self.profile)}_bucket{sel}[{window}]))"
                queries.append(query)
                rows = self.client.query(query, at=at)
                got = {float(r.labels["le"]): r.value for r in rows if "le" in r.labels}
                if got:
                    buckets[o.name] = {le: v for le, v in got.items() if not math.isnan(v)}
            return SampleSnapshot(
                revision=revision,
                requests=value(scope.requests()),
                failed=value(f"sum (increase({scope.failed()}[{window}]))"),
                buckets=buckets,
            )

        return one(target.canary), one(target.stable), queries

    def _one(self, samples: list[PromSample], query: str) -> float | None:
        if len(samples) > 1:
            raise PrometheusError(f"expected one series, got {len(samples)}: {query}")
        return finite_or_none(samples[0].value) if samples else None

    def collect(
        self, target: AnalysisTarget, window_s: float
    ) -> tuple[RevisionObservation, RevisionObservation, list[str]]:
        """Query both revisions at now over ``window_s`` (+ settle)."""
        time.sleep(self.settle_s)
        window = f"{max(2, math.ceil(window_s + self.settle_s))}s"
        at = datetime.now(UTC)
        queries: list[str] = []

        def observe(revision: str) -> RevisionObservation:
            qs = build_queries(
                self.profile,
                namespace=target.namespace,
                window=window,
                model=target.model,
                extra_labels={"revision": revision},
            )
            queries.extend([qs.requests, *qs.objectives.values()])
            requests = self._one(self.client.query(qs.requests, at=at), qs.requests)
            values: dict[str, float | None] = {}
            for o in OBJECTIVES:
                query = qs.objectives[o.name]
                raw = self._one(self.client.query(query, at=at), query)
                values[o.name] = None if raw is None else raw * o.scale
            rate = values.get("error_rate")
            return RevisionObservation(
                revision=revision,
                requests=requests,
                failed=None if rate is None or requests is None else rate * requests,
                values=values,
            )

        return observe(target.canary), observe(target.stable), queries
