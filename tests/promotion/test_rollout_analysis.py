"""Canary analysis rules, the gateway-metrics source (real HTTP server) and plan validation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from llm_platform.config import EnvironmentConfig, SLOObjectives
from llm_platform.promotion.analysis import (
    AnalysisTarget,
    CanaryThresholds,
    RevisionObservation,
    analyze,
    judge_canary,
)
from llm_platform.promotion.metric_sources import GatewayMetricsSource, histogram_quantile
from llm_platform.promotion.rollout import RolloutPlan, plan_from_environment
from llm_platform.slo import OBJECTIVES, PrometheusError
from tests.helpers.serving_fixtures import MetricsServer

DIGEST = "a" * 64


def obs(
    rev: str, requests: float | None, err: float | None, p95: float | None
) -> RevisionObservation:
    failed = None if requests is None or err is None else requests * err
    return RevisionObservation(
        revision=rev,
        requests=requests,
        failed=failed,
        values={"error_rate": err, "latency_p95": p95},
    )


def verdicts(checks: list) -> dict[str, str]:  # type: ignore[type-arg]
    return {c.name: c.verdict for c in checks}


T = CanaryThresholds(min_requests=20)
GATEWAY = GatewayMetricsSource.measures
ALL = {o.name for o in OBJECTIVES}


def test_canary_default_objectives_are_the_environments() -> None:
    """A canary without explicit thresholds meets the same objectives as a default slo: block."""
    defaults, canary = SLOObjectives(), CanaryThresholds()
    assert canary.objectives == {
        "availability": defaults.availability,
        "latency_p95": defaults.latency_p95_ms,
        "error_rate": defaults.error_rate,
    }


def test_healthy_canary_passes() -> None:
    verdict, reason, checks = judge_canary(
        obs("c", 50, 0.0, 12.0), obs("s", 450, 0.0, 10.0), T, measured=GATEWAY
    )
    assert verdict == "pass", reason
    assert set(verdicts(checks).values()) == {"pass"}
    assert "availability" not in verdicts(checks)


@pytest.mark.parametrize(
    ("canary", "stable", "failing"),
    [
        # Above the objective, although not worse than a stable that is bad too.
        (obs("c", 100, 0.05, 10), obs("s", 900, 0.05, 10), {"error_rate"}),
        # Within the objective and within the tolerance above stable (limit 0 + 0.01).
        (obs("c", 100, 0.009, 10), obs("s", 900, 0.0, 10), set()),
        (
            obs("c", 100, 0.0, 2500),
            obs("s", 900, 0.0, 10),
            {"latency_p95", "latency_p95_vs_stable"},
        ),
        (obs("c", 100, 0.0, 200), obs("s", 900, 0.0, 100), {"latency_p95_vs_stable"}),
        # Within the ratio slack for tiny latencies (5 ms -> 55 ms allowed).
        (obs("c", 100, 0.0, 54), obs("s", 900, 0.0, 5), set()),
    ],
)
def test_canary_is_judged_against_objectives_and_stable(
    canary: RevisionObservation, stable: RevisionObservation, failing: set[str]
) -> None:
    verdict, reason, checks = judge_canary(canary, stable, T, measured=GATEWAY)
    assert {n for n, v in verdicts(checks).items() if v == "fail"} == failing
    assert verdict == ("fail" if failing else "pass")
    for name in failing:
        assert name in reason


def test_error_rate_relative_to_stable_fails_inside_the_objective() -> None:
    thresholds = CanaryThresholds(
        min_requests=20,
        objectives={**T.objectives, "error_rate": 0.2},
        error_rate_tolerance=0.02,
    )
    verdict, reason, _ = judge_canary(
        obs("c", 100, 0.1, 10), obs("s", 900, 0.01, 10), thresholds, measured=GATEWAY
    )
    assert verdict == "fail"
    assert reason.startswith("error_rate_vs_stable: canary 0.1 > stable 0.01 + 0.02")


def test_too_little_evidence_is_inconclusive_never_pass() -> None:
    for canary in (obs("c", None, None, None), obs("c", 19, 0.0, 10)):
        verdict, reason, checks = judge_canary(canary, obs("s", 900, 0.0, 10), T, measured=GATEWAY)
        assert verdict == "inconclusive"
        assert "need >= 20" in reason
        assert "pass" not in verdicts(checks).values()
    # No stable baseline: the relative checks cannot pass.
    verdict, reason, checks = judge_canary(
        obs("c", 100, 0.0, 10), obs("s", 3, 0.0, 10), T, measured=GATEWAY
    )
    assert verdict == "inconclusive"
    assert verdicts(checks)["error_rate_vs_stable"] == "inconclusive"
    assert "stable served too few requests" in reason


def test_availability_is_judged_when_the_source_measures_it() -> None:
    canary = obs("c", 100, 0.0, 10)
    canary.values["availability"] = 0.8
    verdict, reason, _ = judge_canary(canary, obs("s", 900, 0.0, 10), T, measured=ALL)
    assert verdict == "fail" and reason.startswith("availability: canary 0.8 < objective 0.999")
    missing = obs("c", 100, 0.0, 10)
    verdict, _, _ = judge_canary(missing, obs("s", 900, 0.0, 10), T, measured=ALL)
    assert verdict == "inconclusive"


def test_thresholds_from_environment_objectives() -> None:
    objectives = SLOObjectives(error_rate=0.02, latency_p95_ms=800, availability=0.99)
    t = CanaryThresholds.from_objectives(objectives, min_requests=50)
    assert t.objectives == {"availability": 0.99, "latency_p95": 800, "error_rate": 0.02}
    assert t.min_requests == 50
    with_ttft = SLOObjectives(ttft_p95_ms=300)
    assert CanaryThresholds.from_objectives(with_ttft).objectives["ttft_p95"] == 300
    with pytest.raises(ValidationError, match="unknown objectives"):
        CanaryThresholds(objectives={"latency_p99": 1.0})


def test_histogram_quantile_matches_prometheus_interpolation() -> None:
    inf = float("inf")
    assert histogram_quantile(0.95, {0.1: 50, 0.5: 90, 1.0: 100, inf: 100}) == pytest.approx(0.75)
    assert histogram_quantile(0.5, {0.1: 50, 0.5: 90, inf: 100}) == pytest.approx(0.1)
    assert histogram_quantile(0.95, {0.1: 50, inf: 100}) == 0.1  # falls into +Inf
    assert histogram_quantile(0.95, {0.1: 0, inf: 0}) is None
    assert histogram_quantile(0.95, {}) is None


def metrics_text(canary: tuple[int, int], stable: tuple[int, int], *, other: int = 0) -> str:
    """Gateway exposition text: (requests, failed) per revision; all requests take 20 ms."""
    lines = []
    for rev, (n, f) in (("c1", canary), ("s1", stable)):
        labels = f'model="m",namespace="production",version="1",color="x",revision="{rev}"'
        lines += [
            f"llm_requests_total{{{labels}}} {n}",
            f"llm_requests_failed_total{{{labels}}} {f}",
            f'llm_request_duration_seconds_bucket{{{labels},le="0.01"}} 0',
            f'llm_request_duration_seconds_bucket{{{labels},le="0.025"}} {n}',
            f'llm_request_duration_seconds_bucket{{{labels},le="+Inf"}} {n}',
        ]
    lines.append(
        f'llm_requests_failed_total{{model="other",namespace="production",version="1",'
        f'color="x",revision="c1"}} {other}'
    )
    return "\n".join(lines) + "\n"


@pytest.fixture()
def metrics_server() -> Iterator[MetricsServer]:
    with MetricsServer() as srv:
        yield srv


def test_gateway_source_diffs_counters_over_the_window(metrics_server: MetricsServer) -> None:
    target = AnalysisTarget(
        env="production", namespace="production", model="m", canary="c1", stable="s1"
    )
    source = GatewayMetricsSource(metrics_server.url)
    metrics_server.text = metrics_text((10, 5), (1000, 1), other=999)
    source.begin(target)
    metrics_server.text = metrics_text((60, 25), (1450, 1), other=5000)
    result = analyze(source, target, T, window_s=3)
    assert result.canary.requests == 50 and result.canary.failed == 20
    assert result.canary.values["error_rate"] == pytest.approx(0.4)
    assert result.stable.requests == 450 and result.stable.values["error_rate"] == 0
    assert result.canary.values["latency_p95"] == pytest.approx(24.25)  # 10 + 15 * 0.95
    assert result.verdict == "fail"
    assert {c.name for c in result.checks if c.verdict == "fail"} == {
        "error_rate",
        "error_rate_vs_stable",
    }

    # A gateway restart resets the counters: the new values count from zero.
    source.begin(target)
    metrics_server.text = metrics_text((30, 0), (300, 0))
    canary, stable, _ = source.collect(target, 3)
    assert (canary.requests, canary.failed, stable.requests) == (30, 0, 300)


def test_gateway_source_unreachable_is_an_error_not_a_verdict() -> None:
    target = AnalysisTarget(
        env="production", namespace="production", model="m", canary="c1", stable="s1"
    )
    with pytest.raises(PrometheusError, match="cannot scrape gateway metrics"):
        GatewayMetricsSource("http://127.0.0.1:9", timeout_s=1).begin(target)


def plan_data(**kw: object) -> dict[str, object]:
    return {
        "env": "production",
        "model": "m",
        "version": "1.0.0",
        "digest": DIGEST,
        "artifact_uri": "/tmp/x",
        "strategy": "blue-green",
        **kw,
    }


def test_plan_refuses_to_skip_the_only_gate() -> None:
    with pytest.raises(ValidationError, match="only canary may skip the smoke test"):
        RolloutPlan.model_validate(plan_data(smoke_requests=0))
    RolloutPlan.model_validate(plan_data(smoke_requests=0, strategy="canary"))
    with pytest.raises(ValidationError, match="canary_percentage: must be below 100"):
        RolloutPlan.model_validate(plan_data(strategy="canary", canary_percentage=100))
    with pytest.raises(ValidationError, match="digest"):
        RolloutPlan.model_validate(plan_data(digest="sha256:abc"))


def test_plan_from_environment_config() -> None:
    config = EnvironmentConfig.model_validate(
        {
            "environment": "production",
            "namespace": "llm-production",
            "deployment": {"strategy": "canary", "canary_percentage": 25},
            "slo": {"error_rate": 0.02, "latency_p95_ms": 900},
        }
    )
    plan = plan_from_environment(
        config,
        env="production",
        model="m",
        version="1.0.0",
        digest=DIGEST,
        artifact_uri="/tmp/x",
        analysis_window_s=5,
        metrics_namespace="llm-production",
    )
    assert (plan.strategy, plan.canary_percentage, plan.analysis_window_s) == ("canary", 25, 5)
    assert plan.thresholds is not None
    assert plan.thresholds.objectives["error_rate"] == 0.02
    assert plan.thresholds.objectives["latency_p95"] == 900
    assert plan.metrics_namespace == "llm-production"
