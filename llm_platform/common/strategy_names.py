"""The names of the rollout strategies (``deployment.strategy`` in ``config/<env>.yaml``).

The keys of :data:`llm_platform.promotion.strategy_table.STRATEGIES`, which checks at import that it
implements exactly these. They live in this leaf module because the config schema validates
against them and the promotion package depends on the config package, not the reverse.
"""

from __future__ import annotations

from typing import Literal, get_args

Strategy = Literal["rolling-update", "blue-green", "canary", "shadow"]
STRATEGY_NAMES: tuple[str, ...] = get_args(Strategy)
#: Strategies whose new revision takes the other color and all traffic at once (shadow ends with
#: a blue-green switch once its copies of production traffic have been judged).
COLOR_SWITCHING: frozenset[str] = frozenset({"blue-green", "shadow"})
