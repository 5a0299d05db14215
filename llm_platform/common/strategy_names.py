"""The rollout strategies (``deployment.strategy`` in ``config/<env>.yaml``) and their traits.

Each strategy is one :class:`StrategySpec` in :data:`STRATEGY_SPECS`: how its new revision is
colored, how traffic reaches it, how many replicas run at the peak of a rollout, which gates it
has. Every other place (capacity checks, the colors the runtime routes by, which Kubernetes
workload can carry it, plan validation) reads these traits instead of comparing names.
:data:`llm_platform.promotion.strategy_table.STRATEGIES` pairs each name with the function that
runs it and checks at import that it implements exactly these. They live in this leaf module
because the config schema validates against them and the promotion package depends on the
config package, not the reverse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

#: The color of a revision: blue / green for strategies that switch colors, ``canary`` for a
#: canary's candidate, ``stable`` otherwise.
Color = Literal["blue", "green", "stable", "canary"]

Strategy = Literal["rolling-update", "blue-green", "canary", "shadow"]
STRATEGY_NAMES: tuple[str, ...] = get_args(Strategy)

#: How the new revision gets traffic: ``switch`` all at once; ``split`` by weight while both
#: revisions serve; ``mirror`` copies of production traffic (answers discarded), then a switch.
Traffic = Literal["switch", "split", "mirror"]


@dataclass(frozen=True)
class StrategySpec:
    """What one rollout strategy does, as data."""

    name: Strategy
    #: The new revision takes the color the serving one does not have (blue / green).
    switches_color: bool
    #: The new revision's color when it does not switch colors (``canary`` or ``stable``).
    candidate_color: Literal["canary", "stable"]
    traffic: Traffic
    #: New replicas start ``max_surge`` at a time; otherwise a whole new replica set starts next
    #: to the old one before the old one goes.
    surge_limited: bool
    #: The candidate is judged against the serving revision on live (or mirrored) traffic.
    analysis: bool
    #: ``smoke_requests: 0`` may skip the smoke test (the analysis is the gate instead).
    smoke_test_optional: bool

    def new_color(self, serving_color: str | None) -> Color:
        """The new revision's color next to a revision of ``serving_color`` (None: nothing
        serves yet)."""
        if serving_color is None:
            return "blue" if self.switches_color else "stable"
        if self.switches_color:
            return "blue" if serving_color == "green" else "green"
        return self.candidate_color

    def peak_new_replicas(self, replicas: int, max_surge: int | str) -> int:
        """New replicas running next to the old revision at the peak of a rollout.

        A surge-limited strategy adds ``max_surge`` replicas at a time (a percentage of
        ``replicas``, rounded up), at least one; the others start all ``replicas`` at once.
        """
        if not self.surge_limited:
            return replicas
        surge = max_surge
        if isinstance(surge, str):  # "25%": the schema only admits digits followed by %
            surge = math.ceil(replicas * int(surge.rstrip("%")) / 100)
        return max(1, min(replicas, surge))

    def peak_replicas(self, replicas: int, max_surge: int | str) -> int:
        """Old and new replicas running at once at the peak of a rollout."""
        return replicas + self.peak_new_replicas(replicas, max_surge)


#: The strategies' traits by name.
STRATEGY_SPECS: dict[str, StrategySpec] = {
    spec.name: spec
    for spec in (
        StrategySpec(
            name="rolling-update",
            switches_color=False,
            candidate_color="stable",
            traffic="split",
            surge_limited=True,
            analysis=False,
            smoke_test_optional=False,
        ),
        StrategySpec(
            name="blue-green",
            switches_color=True,
            candidate_color="stable",
            traffic="switch",
            surge_limited=False,
            analysis=False,
            smoke_test_optional=False,
        ),
        StrategySpec(
            name="canary",
            switches_color=False,
            candidate_color="canary",
            traffic="split",
            surge_limited=False,
            analysis=True,
            smoke_test_optional=True,
        ),
        StrategySpec(
            name="shadow",
            switches_color=True,
            candidate_color="stable",
            traffic="mirror",
            surge_limited=False,
            analysis=True,
            smoke_test_optional=False,
        ),
    )
}
if tuple(STRATEGY_SPECS) != STRATEGY_NAMES:
    raise ImportError(f"STRATEGY_SPECS declares {list(STRATEGY_SPECS)}, not {STRATEGY_NAMES}")
