"""Promotion automation waits for the SLO checks a model configures, and only for those."""

from __future__ import annotations

import dagster as dg
import pytest

from assets.names import STAGING_DEPLOYMENT
from assets.slo_checks import staging_checks_passed
from llm_platform.slo import OBJECTIVES

STAGING = dg.AssetKey(STAGING_DEPLOYMENT)
ALWAYS = [o.check_name for o in OBJECTIVES if o.default is not None]


def _defs(results: dict[str, bool], condition: dg.AutomationCondition) -> dg.Definitions:
    @dg.asset(name=STAGING_DEPLOYMENT)
    def staging() -> None:
        """Stands in for the staging deployment."""

    @dg.multi_asset_check(
        specs=[dg.AssetCheckSpec(o.check_name, asset=STAGING, blocking=True) for o in OBJECTIVES],
        can_subset=True,
    )
    def slo_checks():
        """Yields the configured objectives' results only, like assets/slo_checks.py."""
        for name, passed in results.items():
            yield dg.AssetCheckResult(asset_key=STAGING, check_name=name, passed=passed)

    @dg.asset(deps=[staging], automation_condition=condition)
    def production() -> None:
        """Stands in for the production deployment."""

    return dg.Definitions(assets=[staging, production], asset_checks=[slo_checks])


def _requested(results: dict[str, bool], condition: dg.AutomationCondition) -> int:
    defs = _defs(results, condition)
    with dg.instance_for_test() as instance:
        dg.materialize(
            [defs.get_assets_def(STAGING), *defs.asset_checks],  # type: ignore[attr-defined]
            instance=instance,
            raise_on_error=False,
        )
        evaluation = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=dg.AssetSelection.keys("production")
        )
        return evaluation.get_num_requested(dg.AssetKey("production"))


def test_model_without_optional_objectives_is_promoted() -> None:
    results = dict.fromkeys(ALWAYS, True)
    assert _requested(results, staging_checks_passed()) == 1
    # Dagster's stock condition would wait forever for the never-run ttft/tpot checks.
    stock = dg.AutomationCondition.all_deps_blocking_checks_passed()
    assert _requested(results, stock) == 0


@pytest.mark.parametrize(
    ("extra", "wanted"),
    [({"slo_ttft_p95": True}, 1), ({"slo_ttft_p95": False}, 0), ({"slo_tpot_p95": False}, 0)],
)
def test_configured_optional_objective_gates_promotion(extra: dict[str, bool], wanted: int) -> None:
    assert _requested({**dict.fromkeys(ALWAYS, True), **extra}, staging_checks_passed()) == wanted


def test_failing_default_objective_still_blocks() -> None:
    results = {**dict.fromkeys(ALWAYS, True), "slo_error_rate": False}
    assert _requested(results, staging_checks_passed()) == 0
