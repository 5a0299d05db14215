"""Multiwindow, multi-burn-rate alerts against a real Prometheus serving backfilled histories."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from llm_platform.config import SLOObjectives
from llm_platform.slo import PrometheusClient
from llm_platform.slo.budgets import BURN_ALERTS, burn_rate, evaluate_budgets, windows
from llm_platform.slo.objectives import BY_NAME
from tests.helpers.budget_fixtures import Timeline, constant, during, start
from tests.helpers.prom_fixtures import PrometheusProcess, aligned_now

pytestmark = pytest.mark.integration

NS = "production"
DAY, HOUR, MIN = 86400, 3600, 60
HISTORY = 2 * DAY
OBJ = SLOObjectives(availability=0.999, error_rate=0.01)  # budget_period: the 30d default
TIMELINES = [
    Timeline("healthy", NS, HISTORY),
    # 20 % errors for the last 70 min: 20x over 1 h and 5 m.
    Timeline("fast-burn", NS, HISTORY, error_ratio=during(70 * MIN, -1, 0.20, 0.001)),
    # 8 % errors for the last 7 h: 8x over 6 h and 30 m, but below 14.4x over 1 h.
    Timeline("slow-burn", NS, HISTORY, error_ratio=during(7 * HOUR, -1, 0.08, 0.001)),
    # Every request fails for 10 min, ending 10 min ago: 1 h burns > 14.4x, 5 m is clean.
    Timeline("brief-spike", NS, HISTORY, error_ratio=during(20 * MIN, 10 * MIN, 1.0, 0.0)),
    # 30 % errors for 2 h, recovered 40 min ago: 6 h still burns 10x, 30 m is clean.
    Timeline("recovered", NS, HISTORY, error_ratio=during(160 * MIN, 40 * MIN, 0.30, 0.0)),
    # Servers down for the last 10 min: availability burns its 0.1 % budget > 100x.
    Timeline("outage", NS, HISTORY, down=during(10 * MIN, -1, 1.0, 0.0)),
    # The same failures in another namespace must not leak into production.
    Timeline("healthy", "staging", HISTORY, error_ratio=constant(0.5)),
]


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrometheusProcess, int]]:
    end = aligned_now() // 60 * 60
    server = start(tmp_path_factory.mktemp("budgets"), TIMELINES, end=end)
    try:
        yield server, end
    finally:
        server.stop()


@pytest.fixture(scope="module")
def verdicts(prom: tuple[PrometheusProcess, int]):  # noqa: ANN201
    models = {tl.model: OBJ for tl in TIMELINES} | {"never-deployed": OBJ}
    with PrometheusClient(prom[0].url, timeout=30) as client:
        fleet = evaluate_budgets(
            client,
            namespace=NS,
            objectives_by_model=models,
            at=datetime.fromtimestamp(prom[1], UTC),
        )
        fleet_queries = client.queries_issued
        client.queries_issued = 0
        single = {
            m: evaluate_budgets(
                client,
                namespace=NS,
                objectives_by_model={m: o},
                at=datetime.fromtimestamp(prom[1], UTC),
                fleet=False,
            )[m]
            for m, o in models.items()
        }
        single_queries = client.queries_issued
    return fleet, single, fleet_queries, single_queries


@pytest.mark.parametrize(
    ("model", "status", "action"),
    [
        ("healthy", "ok", "none"),
        ("fast-burn", "fast_burn", "rollback"),
        ("slow-burn", "slow_burn", "notify"),
        ("brief-spike", "ok", "none"),
        ("recovered", "ok", "none"),
        ("outage", "fast_burn", "rollback"),
        ("never-deployed", "no_data", "none"),
    ],
)
def test_status_per_history(verdicts, model: str, status: str, action: str) -> None:  # noqa: ANN001
    fleet, single, _, _ = verdicts
    assert (fleet[model].status, fleet[model].action) == (status, action), fleet[model].reason
    assert single[model].model_dump(exclude={"objectives"}) == fleet[model].model_dump(
        exclude={"objectives"}
    )


def _rates(verdict, objective: str) -> dict[str, float | None]:  # noqa: ANN001
    return next(o for o in verdict.objectives if o.name == objective).burn_rates


def test_burn_rates_match_the_history(verdicts) -> None:  # noqa: ANN001
    fleet = verdicts[0]
    fast = _rates(fleet["fast-burn"], "error_rate")
    assert fast["5m"] == pytest.approx(20.0, rel=0.02) and fast["1h"] == pytest.approx(
        20.0, rel=0.02
    )
    slow = _rates(fleet["slow-burn"], "error_rate")
    assert slow["6h"] == pytest.approx(8.0, rel=0.02) and slow["1h"] == pytest.approx(8.0, rel=0.02)
    spike = _rates(fleet["brief-spike"], "error_rate")
    assert spike["1h"] > 14.4 and spike["5m"] == 0.0  # long window alone does not fire
    recovered = _rates(fleet["recovered"], "error_rate")
    assert recovered["6h"] > 6.0 and recovered["30m"] == 0.0
    outage = _rates(fleet["outage"], "availability")
    assert outage["5m"] == pytest.approx(1000.0, rel=0.05) and outage["1h"] > 100
    # Healthy: 0.1 % errors against a 1 % budget, all windows.
    assert all(
        r == pytest.approx(0.1, rel=0.02) for r in _rates(fleet["healthy"], "error_rate").values()
    )


def test_budget_remaining_over_the_period(verdicts) -> None:  # noqa: ANN001
    fleet = verdicts[0]
    remaining = {
        m: next(o for o in v.objectives if o.name == "error_rate").budget_remaining
        for m, v in fleet.items()
    }
    assert remaining["healthy"] == pytest.approx(0.9, abs=0.01)
    # 30 % of 120 min of 48 h failed: 1.25 % against a 1 % budget, overspent by a quarter.
    assert remaining["recovered"] == pytest.approx(-0.25, abs=0.03)
    assert remaining["never-deployed"] is None


def test_queries_are_constant_for_the_fleet(verdicts) -> None:  # noqa: ANN001
    _, _, fleet_queries, single_queries = verdicts
    assert fleet_queries == 2  # availability and error rate, every window in one query each
    assert single_queries == 2 * (len({tl.model for tl in TIMELINES}) + 1)


def test_only_configured_budget_objectives_count(prom: tuple[PrometheusProcess, int]) -> None:
    loose = SLOObjectives(availability=0.5, error_rate=0.5)  # a 50 % budget: nothing burns fast
    with PrometheusClient(prom[0].url, timeout=30) as client:
        out = evaluate_budgets(
            client,
            namespace=NS,
            objectives_by_model={"fast-burn": loose, "outage": loose},
            at=datetime.fromtimestamp(prom[1], UTC),
        )
    assert out["fast-burn"].status == "ok" and out["outage"].status == "ok"


def test_burn_rate_rules() -> None:
    avail, errors = BY_NAME["availability"], BY_NAME["error_rate"]
    assert burn_rate(avail, 0.999, 0.998) == pytest.approx(2.0)
    assert burn_rate(errors, 0.01, 0.05) == pytest.approx(5.0)
    assert burn_rate(errors, 0.01, math.nan) is None and burn_rate(errors, 0.01, None) is None
    assert burn_rate(errors, 0.0, 0.01) == math.inf and burn_rate(errors, 0.0, 0.0) == 0.0
    assert burn_rate(avail, 0.999, 1.0) == 0.0
    assert windows("30d") == ["5m", "30m", "1h", "6h", "30d"]
    assert [a.factor for a in BURN_ALERTS] == [14.4, 6.0]
