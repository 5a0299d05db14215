"""The verdict-to-announcement policy: what a staging or production SLO check announces."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from llm_platform.slo import SLOVerdict
from llm_platform.slo.announce import Announcement, announcement
from llm_platform.slo.budgets import BudgetVerdict
from llm_platform.slo.recheck import RecheckOutcome

AT = datetime(2026, 12, 1, tzinfo=UTC)


def _verdict(verdict: str) -> SLOVerdict:
    return SLOVerdict.model_validate(
        {
            "model": "m",
            "env": "production",
            "namespace": "production",
            "verdict": verdict,
            "reason": f"window {verdict}",
            "objectives": [],
            "evaluated_at": AT,
        }
    )


def _decision(slo: SLOVerdict, action: str) -> RecheckOutcome:
    budget = BudgetVerdict.model_validate(
        {
            "model": "m",
            "env": "production",
            "namespace": "production",
            "budget_period": "30d",
            "status": "ok",
            "action": action,
            "reason": "budget",
            "objectives": [],
            "evaluated_at": AT,
        }
    )
    return RecheckOutcome.model_validate(
        {
            "model": "m",
            "action": action,
            "reason": f"decided {action}",
            "slo": slo,
            "budget": budget,
        }
    )


@pytest.mark.parametrize("verdict", ["pass", "fail", "inconclusive"])
def test_staging_announces_the_window_verdict_as_it_is(verdict: str) -> None:
    assert announcement(_verdict(verdict), None) == Announcement(verdict, f"window {verdict}")


@pytest.mark.parametrize(
    ("window", "action", "announced"),
    [
        ("fail", "rollback", "fail"),
        ("pass", "rollback", "fail"),  # a fast burn acts although the window still passes
        ("fail", "notify", "fail"),  # a slow burn is announced as a failure too
        ("fail", "none", "pass"),  # a breach the error budget absorbs is no incident
        ("pass", "none", "pass"),
        ("inconclusive", "none", "inconclusive"),  # no evidence is never news
    ],
)
def test_production_announces_the_recheck_decision(window: str, action: str, announced: str):
    slo = _verdict(window)
    got = announcement(slo, _decision(slo, action))
    assert got == Announcement(announced, f"decided {action}")  # type: ignore[arg-type]
