"""The production re-check's decision rule and burn-rate alert rule, as pure functions."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from llm_platform.slo import ObjectiveResult, SLOVerdict
from llm_platform.slo.budgets import BudgetVerdict, combine, judge_budget
from llm_platform.slo.objectives import BY_NAME
from llm_platform.slo.recheck import decide, outcome, outcome_metadata, soaking

AT = datetime(2026, 12, 1, tzinfo=UTC)


def _slo(**verdicts: str) -> SLOVerdict:
    results = [
        ObjectiveResult(
            name=name,
            query="q",
            window="1h",
            value=1.0,
            threshold=1.0,
            samples=10.0,
            verdict=v,  # type: ignore[arg-type]
            reason=f"{name} {v}",
        )
        for name, v in verdicts.items()
    ]
    overall = "fail" if "fail" in verdicts.values() else "pass"
    return SLOVerdict(
        model="m",
        env="production",
        namespace="production",
        verdict=overall,
        reason="r",
        objectives=results,
        evaluated_at=AT,
    )


def _budget(status: str, action: str) -> BudgetVerdict:
    return BudgetVerdict(
        model="m",
        env="production",
        namespace="production",
        budget_period="30d",
        status=status,
        action=action,
        reason=f"budget {status}",
        objectives=[],  # type: ignore[arg-type]
        evaluated_at=AT,
    )


OK = {"availability": "pass", "latency_p95": "pass", "error_rate": "pass"}


@pytest.mark.parametrize(
    ("window", "status", "budget_action", "expected"),
    [
        (OK, "ok", "none", "none"),
        ({**OK, "latency_p95": "fail"}, "ok", "none", "rollback"),  # no budget: window decides
        ({**OK, "error_rate": "fail"}, "ok", "none", "none"),  # a budget: the burn rate decides
        ({**OK, "availability": "fail"}, "slow_burn", "notify", "notify"),
        (OK, "fast_burn", "rollback", "rollback"),
        ({**OK, "latency_p95": "inconclusive"}, "no_data", "none", "none"),  # never acts
        ({**OK, "ttft_p95": "fail"}, "ok", "none", "rollback"),
    ],
)
def test_decision(window: dict[str, str], status: str, budget_action: str, expected: str) -> None:
    action, reason = decide(_slo(**window), _budget(status, budget_action))
    assert action == expected and reason


def test_alerts_need_both_windows_and_the_most_severe_wins() -> None:
    errors = BY_NAME["error_rate"]
    period = "30d"

    def judge(**rates: float) -> str | None:
        values = {w: r * 0.01 for w, r in rates.items()}  # error ratios for a 1 % budget
        return judge_budget(errors, 0.01, values, query="q", period=period).alert

    assert judge(**{"1h": 20, "5m": 20, "6h": 20, "30m": 20}) == "fast_burn"
    assert judge(**{"1h": 20, "5m": 10, "6h": 8, "30m": 8}) == "slow_burn"
    assert judge(**{"1h": 20, "5m": 0, "6h": 5, "30m": 30}) is None
    assert judge(**{"1h": 14.3, "5m": 30, "6h": 5.9, "30m": 30}) is None  # below both factors
    assert judge() is None
    result = judge_budget(errors, 0.01, {"30d": 0.0125}, query="q", period=period)
    assert result.budget_remaining == pytest.approx(-0.25)
    assert combine([result]) == ("ok", "none", result.reason)
    empty = judge_budget(errors, 0.01, {}, query="q", period=period)
    assert combine([empty])[0] == "no_data"


def test_metadata_is_numeric_and_infinite_rates_are_text() -> None:
    avail = BY_NAME["availability"]
    zero_budget = judge_budget(avail, 1.0, {"5m": 0.5, "30d": 1.0}, query="q", period="30d")
    budget = BudgetVerdict(
        model="m",
        env="production",
        namespace="production",
        budget_period="30d",
        status="ok",
        action="none",
        reason="r",
        objectives=[zero_budget],
        evaluated_at=AT,
    )
    meta = outcome_metadata(outcome(_slo(**OK), budget))
    assert meta["availability_burn_rate_5m"] == "inf"
    assert meta["availability_burn_rate_30d"] == 0.0
    assert meta["availability_budget_remaining"] == 1.0
    assert meta["latency_p95_value"] == 1.0 and meta["action"] == "none"
    assert all(not (isinstance(v, float) and math.isinf(v)) for v in meta.values())


def test_a_young_inconclusive_production_revision_is_not_judged_yet() -> None:
    """Right after a promotion there is no evidence: "soaking", not a failed check; a verdict
    reached early (a fast burn, a failing latency) is judged at once; old revisions always."""
    inconclusive = _slo(availability="pass", latency_p95="inconclusive", error_rate="pass")
    inconclusive = inconclusive.model_copy(update={"verdict": "inconclusive"})
    calm = outcome(inconclusive, _budget("ok", "none"))
    deployed, now = 1_000_000.0, 1_000_000.0 + 120
    why = soaking(inconclusive, calm, deployed, "1h", now=now)
    assert why is not None and why.startswith("inconclusive: soaking") and "120 s" in why
    assert soaking(inconclusive, calm, deployed, "1h", now=deployed + 3600) is None
    assert soaking(inconclusive, calm, 0.0, "1h", now=now) is None  # age unknown: judged
    burning = outcome(inconclusive, _budget("fast_burn", "rollback"))
    assert (
        burning.action == "rollback"
        and soaking(inconclusive, burning, deployed, "1h", now=now) is None
    )
    failing = _slo(availability="pass", latency_p95="fail", error_rate="pass")
    assert (
        soaking(failing, outcome(failing, _budget("ok", "none")), deployed, "1h", now=now) is None
    )
    assert soaking(inconclusive, None, deployed, "1h", now=now) is None  # staging: min_soak rules
