"""The rollout strategies by name: ``deployment.strategy`` selects one.

A table of its own so that the strategies' modules stay small: the plain ones in
:mod:`llm_platform.promotion.strategies`, the judged ones in
:mod:`llm_platform.promotion.judged_strategies`. What each one does (colors, traffic, peak
replicas, gates) is its :class:`~llm_platform.common.strategy_names.StrategySpec`; adding a
strategy is its function here plus its spec there.
"""

from __future__ import annotations

from collections.abc import Callable

from llm_platform.common.strategy_names import STRATEGY_SPECS, Strategy
from llm_platform.promotion.judged_strategies import canary, shadow
from llm_platform.promotion.strategies import (
    Outcome,
    RolloutContext,
    blue_green,
    rolling_update,
)

#: The rollout strategies by name: ``deployment.strategy`` selects one. Its key type is
#: :data:`llm_platform.common.strategy_names.Strategy`, which the config schema validates against.
STRATEGIES: dict[Strategy, Callable[[RolloutContext], tuple[Outcome, str]]] = {
    "blue-green": blue_green,
    "canary": canary,
    "rolling-update": rolling_update,
    "shadow": shadow,
}
if set(STRATEGIES) != set(STRATEGY_SPECS):
    raise ImportError(
        f"STRATEGIES implements {sorted(STRATEGIES)} but strategy_names declares "
        f"{sorted(STRATEGY_SPECS)}"
    )
