"""Each rollout strategy's traits, declared once in its StrategySpec and read everywhere else."""

from __future__ import annotations

import pytest

from llm_platform.common.strategy_names import STRATEGY_NAMES, STRATEGY_SPECS
from llm_platform.config.environment import DEPLOYMENT_WORKLOAD_STRATEGIES
from llm_platform.promotion.strategy_table import STRATEGIES


def test_every_strategy_has_a_spec_and_a_runner() -> None:
    assert tuple(STRATEGY_SPECS) == STRATEGY_NAMES
    assert set(STRATEGIES) == set(STRATEGY_SPECS)
    assert all(name == spec.name for name, spec in STRATEGY_SPECS.items())


def test_traits() -> None:
    traits = {
        name: (s.switches_color, s.traffic, s.surge_limited, s.analysis, s.smoke_test_optional)
        for name, s in STRATEGY_SPECS.items()
    }
    assert traits == {
        "rolling-update": (False, "split", True, False, False),
        "blue-green": (True, "switch", False, False, False),
        "canary": (False, "split", False, True, True),
        "shadow": (True, "mirror", False, True, False),
    }


def test_derived_sets_follow_the_traits() -> None:
    assert {n for n, s in STRATEGY_SPECS.items() if s.switches_color} == {"blue-green", "shadow"}
    # A Deployment + Service selects one color at a time: only whole switches.
    assert DEPLOYMENT_WORKLOAD_STRATEGIES == {"blue-green"}


@pytest.mark.parametrize(
    ("strategy", "serving", "expected"),
    [
        ("blue-green", None, "blue"),
        ("blue-green", "blue", "green"),
        ("blue-green", "green", "blue"),
        ("blue-green", "stable", "green"),
        ("shadow", "green", "blue"),
        ("shadow", None, "blue"),
        ("canary", None, "stable"),
        ("canary", "stable", "canary"),
        ("canary", "blue", "canary"),
        ("rolling-update", None, "stable"),
        ("rolling-update", "green", "stable"),
    ],
)
def test_new_color(strategy: str, serving: str | None, expected: str) -> None:
    assert STRATEGY_SPECS[strategy].new_color(serving) == expected


@pytest.mark.parametrize(
    ("strategy", "replicas", "max_surge", "new", "peak"),
    [
        ("rolling-update", 4, 1, 1, 5),
        ("rolling-update", 4, "50%", 2, 6),
        ("rolling-update", 3, "50%", 2, 5),  # rounded up
        ("rolling-update", 3, 0, 1, 4),  # at least one new replica
        ("rolling-update", 3, 10, 3, 6),  # never more than the replicas
        ("blue-green", 2, 1, 2, 4),
        ("canary", 3, 1, 3, 6),
        ("shadow", 1, 1, 1, 2),
    ],
)
def test_peak_replicas(
    strategy: str, replicas: int, max_surge: int | str, new: int, peak: int
) -> None:
    spec = STRATEGY_SPECS[strategy]
    assert spec.peak_new_replicas(replicas, max_surge) == new
    assert spec.peak_replicas(replicas, max_surge) == peak
