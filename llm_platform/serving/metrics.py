"""Prometheus metrics of the gateway (the platform's metric contract) and of a model server.

The gateway records the contract used by the SLO checks, labels
``model, namespace, version, color, revision`` (names from ``metric_names``): histogram
``llm_request_duration_seconds``, counters ``llm_requests_total`` / ``llm_requests_failed_total``
(only server-side failures; a stream cut mid-way or carrying an error event is one), histograms
``llm_time_to_first_token_seconds`` (the first content token of a stream; for a non-streaming
request, the whole response) and ``llm_time_per_output_token_seconds`` (the gaps between a
stream's content tokens), and counters ``llm_prompt_tokens_total`` / ``llm_output_tokens_total``
(from the response's ``usage``, else the stream's content chunks).
Model servers use their own ``llm_server_*`` names so that a Prometheus scraping both never
counts a request twice under the contract names.
"""

from __future__ import annotations

from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from llm_platform.serving.metric_names import (
    LATENCY_BUCKETS,
    REQUESTS_FAILED_TOTAL,
    REQUESTS_TOTAL,
    TPOT_BUCKETS,
    TTFT_BUCKETS,
)
from llm_platform.serving.metric_names import REQUEST_DURATION_SECONDS as REQUEST_DURATION
from llm_platform.serving.metric_names import (
    TIME_PER_OUTPUT_TOKEN_SECONDS as TIME_PER_OUTPUT_TOKEN,
)
from llm_platform.serving.metric_names import TIME_TO_FIRST_TOKEN_SECONDS as TIME_TO_FIRST_TOKEN

GATEWAY_LABELS = ("model", "namespace", "version", "color", "revision")

PROMPT_TOKENS_TOTAL = "llm_prompt_tokens_total"
OUTPUT_TOKENS_TOTAL = "llm_output_tokens_total"
SERVER_LABELS = ("model", "version", "revision")


class GatewayMetrics:
    """The contract metrics, in their own registry.

    Label children are cached per (model, version, color, revision) so that recording a request
    costs a dict lookup plus three increments.
    """

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.registry = CollectorRegistry(auto_describe=True)
        self.duration = Histogram(
            REQUEST_DURATION,
            "Time from receiving an inference request to the upstream's complete response "
            "(a stream's last byte).",
            GATEWAY_LABELS,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            REQUESTS_TOTAL,
            "Inference requests proxied by the gateway.",
            GATEWAY_LABELS,
            registry=self.registry,
        )
        self.failed = Counter(
            REQUESTS_FAILED_TOTAL,
            "Inference requests that ended with a 5xx status or an upstream connection error "
            "(client errors, 4xx, are not failures).",
            GATEWAY_LABELS,
            registry=self.registry,
        )
        self.ttft = Histogram(
            TIME_TO_FIRST_TOKEN,
            "Time to the first output token (the whole response when not streaming).",
            GATEWAY_LABELS,
            buckets=TTFT_BUCKETS,
            registry=self.registry,
        )
        self.tpot = Histogram(
            TIME_PER_OUTPUT_TOKEN,
            "Gaps between the content tokens of a streamed response.",
            GATEWAY_LABELS,
            buckets=TPOT_BUCKETS,
            registry=self.registry,
        )
        self.prompt_tokens = Counter(
            PROMPT_TOKENS_TOTAL,
            "Prompt tokens of successful inference requests (from the response's usage).",
            GATEWAY_LABELS,
            registry=self.registry,
        )
        self.output_tokens = Counter(
            OUTPUT_TOKENS_TOTAL,
            "Output tokens of inference requests (from the response's usage, else the "
            "stream's content chunks).",
            GATEWAY_LABELS,
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, str, str], Series] = {}

    def series(self, model: str, version: str, color: str, revision: str) -> Series:
        """The label children of one revision (created on first use)."""
        key = (model, version, color, revision)
        children = self._children.get(key)
        if children is None:
            labels = (model, self.namespace, version, color, revision)
            children = Series(
                self.duration.labels(*labels),
                self.requests.labels(*labels),
                self.failed.labels(*labels),
                self.ttft.labels(*labels),
                self.tpot.labels(*labels),
                self.prompt_tokens.labels(*labels),
                self.output_tokens.labels(*labels),
            )
            self._children[key] = children
        return children

    def prepare(self, model: str, version: str, color: str, revision: str) -> None:
        """Export a routed revision's series at zero before its first request.

        Prometheus' ``increase()`` only counts what happens after a series' first sample; a
        series born with its first request would hide that request (and all before the next
        scrape) from the SLO's sample count.
        """
        self.series(model, version, color, revision)

    def observe(
        self,
        model: str,
        version: str,
        color: str,
        revision: str,
        seconds: float,
        failed: bool,
        *,
        completed: bool = False,
        usage: Usage | None = None,
    ) -> None:
        """Record one inference request.

        Args:
            completed: it succeeded (2xx): a non-streaming response's first token arrives with
                the whole response, so its time to first token is ``seconds``.
            usage: the response's token counts, when it reported them.
        """
        children = self.series(model, version, color, revision)
        children.duration.observe(seconds)
        children.requests.inc()
        if failed:
            children.failed.inc()
        if completed:
            children.ttft.observe(seconds)
        if usage is not None:
            children.prompt_tokens.inc(usage.prompt_tokens)
            children.output_tokens.inc(usage.completion_tokens)


class Usage(NamedTuple):
    """Token counts of one response (OpenAI ``usage``)."""

    prompt_tokens: int
    completion_tokens: int


class Series(NamedTuple):
    """The label children of one revision's contract series."""

    duration: Histogram
    requests: Counter
    failed: Counter
    ttft: Histogram
    tpot: Histogram
    prompt_tokens: Counter
    output_tokens: Counter


class ServerMetrics:
    """Metrics of one model server process (labels model, version, revision)."""

    def __init__(self, model: str, version: str, revision: str, digest: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = (model, version, revision)
        info = Gauge(
            "llm_server_info",
            "Always 1; carries the artifact digest this server loaded.",
            (*SERVER_LABELS, "digest"),
            registry=self.registry,
        )
        info.labels(*labels, digest).set(1)
        self.requests = Counter(
            "llm_server_requests_total",
            "Completion requests handled by this model server.",
            SERVER_LABELS,
            registry=self.registry,
        ).labels(*labels)
        self.errors = Counter(
            "llm_server_errors_total",
            "Completion requests answered with a 5xx status.",
            SERVER_LABELS,
            registry=self.registry,
        ).labels(*labels)
        self.duration = Histogram(
            "llm_server_request_duration_seconds",
            "Completion request latency inside the model server.",
            SERVER_LABELS,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        ).labels(*labels)
        self.completion_tokens = Counter(
            "llm_server_completion_tokens_total",
            "Tokens generated by this model server.",
            SERVER_LABELS,
            registry=self.registry,
        ).labels(*labels)
