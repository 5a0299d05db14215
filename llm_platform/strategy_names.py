"""The names of the rollout strategies (``deployment.strategy`` in ``config/<env>.yaml``).

The keys of :data:`llm_platform.promotion.strategies.STRATEGIES`, which checks at import that it
implements exactly these. They live in this leaf module because the config schema validates
against them and the promotion package depends on the config package, not the reverse.
"""

from __future__ import annotations

from typing import Literal, get_args

Strategy = Literal["rolling-update", "blue-green", "canary"]
STRATEGY_NAMES: tuple[str, ...] = get_args(Strategy)
