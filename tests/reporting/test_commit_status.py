"""What each stage reports to the commit: state and one-line description from outcome data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from llm_platform.common.gate_item import GateItem
from llm_platform.config import ConfigError, parse_model_config
from llm_platform.endpoint_tests.models import SuiteReport, TestResult
from llm_platform.promotion.gate import GateDecision
from llm_platform.promotion.rollout import RolloutResult
from llm_platform.reporting.commit_status import (
    MAX_DESCRIPTION,
    Stage,
    artifact_unsafe,
    config_invalid,
    config_valid,
    integration_result,
    one_line,
    pending,
    promotion_refused,
    registered,
    rollout_result,
    slo_result,
    slo_unavailable,
    stage_error,
    status_context,
)
from llm_platform.slo.evaluate import ObjectiveResult, SLOVerdict


def objective(name: str, verdict: str, value: float | None, threshold: float, reason: str = ""):
    return ObjectiveResult(
        name=name,
        query="q",
        window="5m",
        value=value,
        threshold=threshold,
        samples=1200.0,
        verdict=verdict,  # type: ignore[arg-type]
        reason=reason or f"{name} {verdict}",
    )


def verdict_of(*objectives: ObjectiveResult) -> SLOVerdict:
    overall = "fail" if any(o.verdict == "fail" for o in objectives) else "pass"
    return SLOVerdict(
        model="mistral-7b",
        env="staging",
        namespace="llm-staging",
        verdict=overall,  # type: ignore[arg-type]
        reason="r",
        objectives=list(objectives),
        evaluated_at=datetime.now(UTC),
    )


def test_context_names_stage_and_model() -> None:
    assert (
        status_context(Stage.registration, "mistral-7b") == "llm-platform/registration/mistral-7b"
    )
    assert pending(Stage.staging, "m").context == "llm-platform/staging/m"
    assert {s.value for s in Stage} == {"config", "registration", "staging", "production"}


def test_held_slo_names_the_check_value_and_threshold() -> None:
    status = slo_result(
        "mistral-7b",
        verdict_of(
            objective("availability", "pass", 1.0, 0.999),
            objective("latency_p95", "fail", 1975.0, 1500.0),
            objective("error_rate", "pass", 0.0, 0.01),
        ),
    )
    assert status.state == "failure"
    assert status.description == "held: slo_latency_p95 1975 ms > 1500 ms"


def test_failures_come_before_inconclusive_objectives() -> None:
    status = slo_result(
        "m",
        verdict_of(
            objective("availability", "inconclusive", None, 0.999, "no up series for the model"),
            objective("error_rate", "fail", 0.05, 0.01),
        ),
    )
    assert status.state == "failure"
    assert status.description == (
        "held: slo_error_rate 0.05 > 0.01; "
        "slo_availability inconclusive: no up series for the model"
    )


def test_all_objectives_met_is_success() -> None:
    status = slo_result(
        "m",
        verdict_of(
            objective("availability", "pass", 1.0, 0.999),
            objective("latency_p95", "pass", 812.0, 2000.0),
        ),
    )
    assert status.state == "success"
    assert status.description == "passed: 2 SLO objective(s) met over 5m"


def test_prometheus_outage_is_an_error_not_a_pass() -> None:
    status = slo_unavailable("m", RuntimeError("Prometheus at http://127.0.0.1:1 unreachable"))
    assert status.state == "error" and status.description.startswith("held: SLOs not evaluated")


def test_invalid_config_reports_first_problem_with_line_and_field() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_model_config(
            b"name: m\nversion: 1.0.0\narchitecture: llama\nresources:\n  memory_gb: 4\n"
            b"  gpu_count: 2\nfoo: 1\n",
            source="models/m/model.yaml",
            expected_name="m",
        )
    status = config_invalid("m", caught.value.problems)
    assert status.state == "failure"
    first = caught.value.problems[0]
    assert status.description.startswith(f"invalid: line {first.line}: {first.field}: ")
    assert status.description.endswith(f"(+{len(caught.value.problems) - 1} more)")
    assert config_valid("m", version="1.2.3").description == "valid: m 1.2.3"


def test_descriptions_are_one_line_and_within_githubs_limit() -> None:
    text = "line one\nline two " + "x" * 300
    assert one_line(text) == one_line(text).strip() and "\n" not in one_line(text)
    assert len(one_line(text)) == MAX_DESCRIPTION and one_line(text).endswith("…")
    assert one_line("short  text\n") == "short text"
    error = stage_error(Stage.registration, "m", ValueError("first line\nsecond line"))
    assert (error.state, error.description) == ("error", "error: first line")
    assert stage_error(Stage.config, "m", KeyError()).description == "error: KeyError"


def test_registration_outcomes() -> None:
    ok = registered("m", version="1.0.0", digest="ab" * 32, files=3)
    assert ok.state == "success"
    assert ok.description == "registered 1.0.0 sha256:abababababab (3 files, scan clean)"
    bad = artifact_unsafe("m", {"files": 4, "unsafe": 1, "errors": 0, "critical": 2, "high": 0})
    assert bad.state == "failure"
    assert (
        bad.description == "unsafe artifact: 1 unsafe file(s), 0 unreadable; findings: 2 critical"
    )


def _suite(*results: tuple[str, bool, str]) -> SuiteReport:
    tests = [TestResult(name=n, passed=p, detail=d, duration_s=0.1) for n, p, d in results]
    return SuiteReport(
        base_url="http://x", model="m", passed=all(p for _, p, _ in results), tests=tests
    )


def test_integration_suite_failure_ends_the_stage_and_success_waits_for_slos() -> None:
    failed = integration_result(
        "m", _suite(("health", True, "200"), ("load", False, "success rate 0.62 < 0.8"))
    )
    assert failed.state == "failure"
    assert failed.description == "integration tests failed (1/2): load: success rate 0.62 < 0.8"
    passed = integration_result("m", _suite(("health", True, "200"), ("load", True, "ok")))
    assert passed.state == "pending" and "SLO checks next" in passed.description


def test_production_refusal_and_rollout_outcomes() -> None:
    decision = GateDecision(
        items=[
            GateItem(name="staging checks", ok=False, reason="slo_latency_p95 failed"),
            GateItem(name="approval", ok=True, reason="alice approved"),
            GateItem(name="capacity", ok=False, reason="needs 32 GiB, 8 GiB free"),
        ]
    )
    refused = promotion_refused("m", decision)
    assert refused.state == "failure"
    assert refused.description == (
        "refused: staging checks: slo_latency_p95 failed; capacity: needs 32 GiB, 8 GiB free"
    )
    promoted = RolloutResult.model_construct(
        outcome="promoted", strategy="canary", new_revision="v1-0-0-abc", reason="ok"
    )
    assert rollout_result("m", promoted).state == "success"
    assert rollout_result("m", promoted).description == "promoted (canary): revision v1-0-0-abc"
    rolled = RolloutResult.model_construct(
        outcome="rolled_back", strategy="blue-green", new_revision="r", reason="smoke failed"
    )
    assert (rollout_result("m", rolled).state, rollout_result("m", rolled).description) == (
        "failure",
        "rolled back (blue-green): smoke failed",
    )
    held = RolloutResult.model_construct(
        outcome="held", strategy="canary", new_revision="r", reason="inconclusive at 10m"
    )
    assert (rollout_result("m", held).state, rollout_result("m", held).description) == (
        "failure",
        "held: inconclusive at 10m",
    )
