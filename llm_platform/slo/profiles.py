"""Metric profiles: which Prometheus series a serving stack exports, and PromQL scopes over them.

A profile names the request counters, the latency histograms (end-to-end, time to first token,
time per output token) and the labels of one serving stack; :class:`Scope` renders selectors
and the shared query parts for one evaluation. The objectives themselves (which query answers
which ``slo:`` key) are declared in :mod:`llm_platform.slo.objectives`. Every selector is scoped
to one namespace (and, per model, to one model) with exact-match, escaped label values; counters
are read through ``increase()`` / ``rate()`` over the window so that counter resets (restarts)
do not distort the result.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

from llm_platform.common.durations import check_duration
from llm_platform.serving.metric_names import (
    LATENCY_BUCKETS,
    REQUEST_DURATION_SECONDS,
    REQUESTS_FAILED_TOTAL,
    REQUESTS_TOTAL,
    TIME_PER_OUTPUT_TOKEN_SECONDS,
    TIME_TO_FIRST_TOKEN_SECONDS,
    TPOT_BUCKETS,
    TTFT_BUCKETS,
)

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

#: The quantile of the latency objectives (``latency_p95_ms``, ``ttft_p95_ms``, ``tpot_p95_ms``).
LATENCY_QUANTILE = 0.95


class MetricProfile(BaseModel):
    """Names of the series (and labels) one serving stack exports for SLO evaluation.

    Attributes:
        name: Profile name (``default``, ``vllm``).
        latency_histogram: Base name of the end-to-end latency histogram, in seconds
            (``_bucket`` is appended).
        ttft_histogram: Base name of the time-to-first-token histogram, in seconds.
        tpot_histogram: Base name of the time-per-output-token histogram, in seconds.
        requests_total: Counter of finished requests (the sample count and error-rate divisor).
        requests_total_matchers: Extra exact-match label matchers on ``requests_total``.
        requests_failed: Counter of failed requests.
        requests_failed_matchers: Extra exact-match label matchers on ``requests_failed``.
        requests_failed_regex: Extra regex label matchers (``=~``) on ``requests_failed``.
        model_label: Label carrying the model name on the request metrics.
        namespace_label: Label carrying the Kubernetes namespace.
        up_job: ``job`` label of the scrape jobs whose ``up`` series give availability.
        up_model_label: Label carrying the model name on the ``up`` series.
        buckets: Known bucket edges (seconds) per histogram base name; the SLO rules record a
            p95 objective's "bad events" ratio only where its threshold is an edge.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    latency_histogram: str
    ttft_histogram: str
    tpot_histogram: str
    requests_total: str
    requests_total_matchers: dict[str, str] = Field(default_factory=dict)
    requests_failed: str
    requests_failed_matchers: dict[str, str] = Field(default_factory=dict)
    requests_failed_regex: dict[str, str] = Field(default_factory=dict)
    model_label: str = "model"
    namespace_label: str = "namespace"
    up_job: str = "llm-model"
    up_model_label: str = "model"
    buckets: dict[str, tuple[float, ...]] = Field(default_factory=dict)


DEFAULT_PROFILE = MetricProfile(
    name="default",
    latency_histogram=REQUEST_DURATION_SECONDS,
    ttft_histogram=TIME_TO_FIRST_TOKEN_SECONDS,
    tpot_histogram=TIME_PER_OUTPUT_TOKEN_SECONDS,
    requests_total=REQUESTS_TOTAL,
    requests_failed=REQUESTS_FAILED_TOTAL,
    buckets={
        REQUEST_DURATION_SECONDS: LATENCY_BUCKETS,
        TIME_TO_FIRST_TOKEN_SECONDS: TTFT_BUCKETS,
        TIME_PER_OUTPUT_TOKEN_SECONDS: TPOT_BUCKETS,
    },
)

# vLLM (0.6+ / V1 engine) exports no "failed" counter. It counts every finished request in
# ``vllm:request_success_total`` with a ``finished_reason`` label (stop | length | abort, and
# error in newer releases). Mapping: requests = all finished requests; failures = those that
# finished with ``abort`` or ``error``; latency = ``vllm:e2e_request_latency_seconds``, first
# token and per-token times = ``vllm:time_to_first_token_seconds`` and
# ``vllm:time_per_output_token_seconds``. The
# model label is ``model_name``; ``up`` comes from a scrape job named ``vllm`` whose targets are
# relabelled with ``model`` and ``namespace`` from the pod labels.
VLLM_PROFILE = MetricProfile(
    name="vllm",
    latency_histogram="vllm:e2e_request_latency_seconds",
    ttft_histogram="vllm:time_to_first_token_seconds",
    tpot_histogram="vllm:time_per_output_token_seconds",
    requests_total="vllm:request_success_total",
    requests_failed="vllm:request_success_total",
    requests_failed_regex={"finished_reason": "abort|error"},
    model_label="model_name",
    up_job="vllm",
)

PROFILES: dict[str, MetricProfile] = {p.name: p for p in (DEFAULT_PROFILE, VLLM_PROFILE)}

#: Engines whose own metrics the SLO queries read; every other engine is measured by the
#: gateway in front of it (the default profile).
_ENGINE_PROFILES: dict[str, MetricProfile] = {"vllm": VLLM_PROFILE}


def profile_for_engine(engine: str | None) -> MetricProfile:
    """The metric profile of a deployment served by ``engine`` (``builtin``, ``llama-cpp``,
    ``vllm``; None: the builtin default)."""
    return _ENGINE_PROFILES.get(engine or "", DEFAULT_PROFILE)


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


class Scope:
    """One evaluation's PromQL building blocks: namespace, optional model, window, extra labels.

    With ``model=None`` (fleet mode) aggregations keep the model label (``by_model``,
    ``by_up``) and the ``group`` labels (e.g. ``revision``) so that one query answers every
    model (and revision) of the namespace; ``keep_labels`` keeps them for one model too (the
    Prometheus rules of a single model).

    Raises:
        ValueError: On an invalid window or label name.
    """

    def __init__(
        self,
        profile: MetricProfile,
        *,
        namespace: str,
        window: str,
        model: str | None = None,
        extra_labels: dict[str, str] | None = None,
        group: tuple[str, ...] = (),
        keep_labels: bool = False,
    ) -> None:
        self.profile, self.namespace, self.model = profile, namespace, model
        self.window = check_window(window)
        self.extra = dict(extra_labels or {})
        for name in group:
            selector({name: ""})  # validates the label name
        kept = "".join(f", {name}" for name in group)
        grouped = model is None or keep_labels
        self.by_model = f" by ({profile.model_label}{kept})" if grouped else ""
        self.by_up = f" by ({profile.up_model_label}{kept})" if grouped else ""
        self.by_le = f"{profile.model_label}{kept}, le" if grouped else "le"
        self.select(profile.model_label, {})  # validates the extra label names now

    def select(
        self, model_label: str, own: dict[str, str], regex: dict[str, str] | None = None
    ) -> str:
        """The selector: ``own`` matchers, namespace, model (unless fleet), extra labels."""
        labels = dict(own)
        labels[self.profile.namespace_label] = self.namespace
        if self.model is not None:
            labels[model_label] = self.model
        labels.update(self.extra)
        return selector(labels, regex)

    def requests(self) -> str:
        """Requests finished in the window (the traffic gate and error-rate divisor)."""
        p = self.profile
        total = f"{p.requests_total}{self.select(p.model_label, p.requests_total_matchers)}"
        return f"sum{self.by_model} (increase({total}[{self.window}]))"

    def failed(self) -> str:
        """The failed-requests counter selector."""
        p = self.profile
        sel = self.select(p.model_label, p.requests_failed_matchers, p.requests_failed_regex)
        return f"{p.requests_failed}{sel}"

    def up(self) -> str:
        """The ``up`` selector of the model's scrape job."""
        return f"up{self.select(self.profile.up_model_label, {'job': self.profile.up_job})}"

    def histogram_p95(self, histogram: str) -> str:
        """p95 over the window of a histogram (base name, seconds)."""
        bucket = f"{histogram}_bucket{self.select(self.profile.model_label, {})}"
        rate = f"sum by ({self.by_le}) (rate({bucket}[{self.window}]))"
        return f"histogram_quantile({LATENCY_QUANTILE}, {rate})"
