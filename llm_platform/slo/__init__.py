"""SLO evaluation against Prometheus: metric profiles, PromQL, verdicts, fleet mode."""

from __future__ import annotations

from llm_platform.slo.evaluate import ObjectiveResult, SLOVerdict, evaluate, overall
from llm_platform.slo.fleet import evaluate_fleet
from llm_platform.slo.profiles import (
    DEFAULT_PROFILE,
    PROFILES,
    VLLM_PROFILE,
    MetricProfile,
    QuerySet,
    build_queries,
)
from llm_platform.slo.prom import InstantQueryClient, PrometheusClient, PrometheusError, PromSample

__all__ = [
    "DEFAULT_PROFILE",
    "PROFILES",
    "VLLM_PROFILE",
    "InstantQueryClient",
    "MetricProfile",
    "ObjectiveResult",
    "PromSample",
    "PrometheusClient",
    "PrometheusError",
    "QuerySet",
    "SLOVerdict",
    "build_queries",
    "evaluate",
    "evaluate_fleet",
    "overall",
]
