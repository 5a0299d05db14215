"""The gateway's contract series: their names and histogram bucket edges, defined once.

The gateway records them (:mod:`llm_platform.serving.metrics`) and the SLO queries read them
(:mod:`llm_platform.slo.profiles`, the default metric profile); both import the names from here.
"""

from __future__ import annotations

# The gateway's contract series (DESIGN.md "Metrics"), labelled model, namespace, version,
# revision and color. Histograms are in seconds.
REQUESTS_TOTAL = "llm_requests_total"
REQUESTS_FAILED_TOTAL = "llm_requests_failed_total"
REQUEST_DURATION_SECONDS = "llm_request_duration_seconds"
TIME_TO_FIRST_TOKEN_SECONDS = "llm_time_to_first_token_seconds"
TIME_PER_OUTPUT_TOKEN_SECONDS = "llm_time_per_output_token_seconds"

# The gateway's histogram bucket edges (seconds). The SLO rules turn a p95 objective into a
# "bad events" ratio only where its threshold is one of these edges.
# End-to-end: edges dense around typical latency SLO thresholds (p95 0.5 s .. 3 s).
LATENCY_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    1.5,
    2.0,
    2.5,
    3.0,
    5.0,
    10.0,
)
# First-token latency of LLMs spans 10 ms (cached prompt) to tens of seconds (long prompt).
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0)
# Gaps between output tokens: 1 ms (small model) to 1 s (overloaded).
TPOT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0)
