"""Metric profiles: which Prometheus series answer each SLO objective, and the PromQL for them.

A profile maps the three objectives (availability, p95 latency, error rate) and the request
count onto the metric and label names a serving stack exports. Every selector is scoped to one
namespace (and, per model, to one model) with exact-match, escaped label values; counters are
read through ``increase()`` / ``rate()`` over the window so that counter resets (restarts) do
not distort the result.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

from llm_platform.durations import check_duration

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class MetricProfile(BaseModel):
    """Names of the series (and labels) one serving stack exports for SLO evaluation.

    Attributes:
        name: Profile name (``default``, ``vllm``).
        latency_histogram: Base name of the end-to-end latency histogram, in seconds
            (``_bucket`` is appended).
        requests_total: Counter of finished requests (the sample count and error-rate divisor).
        requests_total_matchers: Extra exact-match label matchers on ``requests_total``.
        requests_failed: Counter of failed requests.
        requests_failed_matchers: Extra exact-match label matchers on ``requests_failed``.
        requests_failed_regex: Extra regex label matchers (``=~``) on ``requests_failed``.
        model_label: Label carrying the model name on the request metrics.
        namespace_label: Label carrying the Kubernetes namespace.
        up_job: ``job`` label of the scrape jobs whose ``up`` series give availability.
        up_model_label: Label carrying the model name on the ``up`` series.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    latency_histogram: str
    requests_total: str
    requests_total_matchers: dict[str, str] = Field(default_factory=dict)
    requests_failed: str
    requests_failed_matchers: dict[str, str] = Field(default_factory=dict)
    requests_failed_regex: dict[str, str] = Field(default_factory=dict)
    model_label: str = "model"
    namespace_label: str = "namespace"
    up_job: str = "llm-model"
    up_model_label: str = "model"


DEFAULT_PROFILE = MetricProfile(
    name="default",
    latency_histogram="llm_request_duration_seconds",
    requests_total="llm_requests_total",
    requests_failed="llm_requests_failed_total",
)

# vLLM (0.6+ / V1 engine) exports no "failed" counter. It counts every finished request in
# ``vllm:request_success_total`` with a ``finished_reason`` label (stop | length | abort, and
# error in newer releases). Mapping: requests = all finished requests; failures = those that
# finished with ``abort`` or ``error``; latency = ``vllm:e2e_request_latency_seconds``. The
# model label is ``model_name``; ``up`` comes from a scrape job named ``vllm`` whose targets are
# relabelled with ``model`` and ``namespace`` from the pod labels.
VLLM_PROFILE = MetricProfile(
    name="vllm",
    latency_histogram="vllm:e2e_request_latency_seconds",
    requests_total="vllm:request_success_total",
    requests_failed="vllm:request_success_total",
    requests_failed_regex={"finished_reason": "abort|error"},
    model_label="model_name",
    up_job="vllm",
)

PROFILES: dict[str, MetricProfile] = {p.name: p for p in (DEFAULT_PROFILE, VLLM_PROFILE)}


def quote_label_value(value: str) -> str:
    """Return ``value`` as a PromQL double-quoted string literal, escaped.

    Args:
        value: Any label value (may contain quotes, backslashes or newlines).

    Returns:
        The literal, including the surrounding double quotes.
    """
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def check_window(window: str) -> str:
    """Validate a PromQL range duration such as ``24h`` or ``1h30m``.

    Raises:
        ValueError: When ``window`` is not a Prometheus duration.
    """
    try:
        return check_duration(window)
    except ValueError as exc:
        raise ValueError(f"SLO window: {exc}") from exc


def selector(exact: dict[str, str], regex: dict[str, str] | None = None) -> str:
    """Render label matchers as ``{a="x",b=~"y"}`` (``exact`` first, then ``regex``).

    Raises:
        ValueError: When a label name is not a valid Prometheus label name.
    """
    parts = []
    for op, labels in (("=", exact), ("=~", regex or {})):
        for name, value in labels.items():
            if not _LABEL_NAME.match(name):
                raise ValueError(f"invalid Prometheus label name {name!r}")
            parts.append(f"{name}{op}{quote_label_value(value)}")
    return "{" + ",".join(parts) + "}"


class QuerySet(BaseModel):
    """The five instant queries that answer one SLO evaluation (one model, or a fleet)."""

    model_config = ConfigDict(frozen=True)

    requests: str
    latency_p95: str
    error_rate: str
    availability: str
    availability_samples: str


def build_queries(
    profile: MetricProfile,
    *,
    namespace: str,
    window: str,
    model: str | None = None,
    extra_labels: dict[str, str] | None = None,
) -> QuerySet:
    """Build the PromQL for one model, or for every model of a namespace (``model=None``).

    With ``model=None`` every query is grouped ``by (<model label>)`` so that one query answers
    all models at once (fleet mode); otherwise each query aggregates to a single value.

    Args:
        profile: Metric names and labels to use.
        namespace: Kubernetes namespace (exact match).
        window: PromQL range, e.g. ``24h``.
        model: Model name (exact match), or None for fleet queries.
        extra_labels: Additional exact-match matchers, e.g. ``{"revision": "canary"}``.

    Returns:
        The query set.

    Raises:
        ValueError: On an invalid window or label name.
    """
    check_window(window)
    extra = dict(extra_labels or {})

    def scoped(model_label: str, own: dict[str, str], regex: dict[str, str] | None = None) -> str:
        labels = dict(own)
        labels[profile.namespace_label] = namespace
        if model is not None:
            labels[model_label] = model
        labels.update(extra)
        return selector(labels, regex)

    by_model = f" by ({profile.model_label})" if model is None else ""
    by_up = f" by ({profile.up_model_label})" if model is None else ""
    by_le = f"{profile.model_label}, le" if model is None else "le"
    w = f"[{window}]"
    total = (
        f"{profile.requests_total}{scoped(profile.model_label, profile.requests_total_matchers)}"
    )
    failed_sel = scoped(
        profile.model_label, profile.requests_failed_matchers, profile.requests_failed_regex
    )
    failed = f"{profile.requests_failed}{failed_sel}"
    bucket = f"{profile.latency_histogram}_bucket{scoped(profile.model_label, {})}"
    up = f"up{scoped(profile.up_model_label, {'job': profile.up_job})}"
    requests = f"sum{by_model} (increase({total}{w}))"
    return QuerySet(
        requests=requests,
        latency_p95=f"histogram_quantile(0.95, sum by ({by_le}) (rate({bucket}{w})))",
        error_rate=f"sum{by_model} (increase({failed}{w})) / {requests}",
        availability=f"avg{by_up} (avg_over_time({up}{w}))",
        availability_samples=f"sum{by_up} (count_over_time({up}{w}))",
    )
