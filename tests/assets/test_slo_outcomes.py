"""How SLO verdicts become Dagster check results: soaking is held but shown as a warning."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from assets.slo_outcomes import objective_results
from llm_platform.slo import ObjectiveResult, SLOVerdict


def _verdict(verdict: str, *, soak_seconds: float | None, objective: str) -> SLOVerdict:
    result = ObjectiveResult(
        name="error_rate",
        query="q",
        window="1h",
        value=None,
        threshold=0.01,
        samples=None,
        verdict=objective,  # type: ignore[arg-type]
        reason="the revision has served for 30 s only (it must serve for 10m)",
    )
    return SLOVerdict(
        model="m",
        env="staging",
        namespace="staging",
        verdict=verdict,  # type: ignore[arg-type]
        reason="r",
        objectives=[result],
        evaluated_at=datetime(2026, 12, 1, tzinfo=UTC),
        min_soak="10m",
        soak_seconds=soak_seconds,
    )


def test_soaking_is_held_as_a_warning_not_a_failure() -> None:
    soaking = _verdict("inconclusive", soak_seconds=30.0, objective="inconclusive")
    assert soaking.soaking
    [result] = objective_results("staging_deployment", soaking, {}, production=False)
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert (result.description or "").startswith("inconclusive: soaking: the revision")


def test_soaked_but_inconclusive_or_failing_is_an_error() -> None:
    for soaked in (
        _verdict("inconclusive", soak_seconds=900.0, objective="inconclusive"),
        _verdict("fail", soak_seconds=None, objective="fail").model_copy(update={"min_soak": None}),
    ):
        assert not soaked.soaking
        [result] = objective_results("staging_deployment", soaked, {}, production=False)
        assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    never_served = _verdict("inconclusive", soak_seconds=None, objective="inconclusive")
    assert never_served.soaking
