"""SLO evaluation against Prometheus: the objectives registry, metric profiles, verdicts, fleet."""

from __future__ import annotations

from llm_platform.slo.evaluate import ObjectiveResult, SLOVerdict, evaluate, overall
from llm_platform.slo.fleet import evaluate_fleet
from llm_platform.slo.objectives import (
    BY_NAME,
    OBJECTIVES,
    Objective,
    QuerySet,
    Thresholds,
    build_queries,
    configured,
)
from llm_platform.slo.profiles import (
    DEFAULT_PROFILE,
    PROFILES,
    VLLM_PROFILE,
    MetricProfile,
    profile_for_engine,
)
from llm_platform.slo.prom import InstantQueryClient, PrometheusClient, PrometheusError, PromSample

__all__ = [
    "BY_NAME",
    "DEFAULT_PROFILE",
    "OBJECTIVES",
    "PROFILES",
    "VLLM_PROFILE",
    "InstantQueryClient",
    "MetricProfile",
    "Objective",
    "ObjectiveResult",
    "PromSample",
    "PrometheusClient",
    "PrometheusError",
    "QuerySet",
    "SLOVerdict",
    "Thresholds",
    "build_queries",
    "configured",
    "evaluate",
    "evaluate_fleet",
    "overall",
    "profile_for_engine",
]
