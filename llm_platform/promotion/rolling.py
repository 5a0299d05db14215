"""Rolling-update arithmetic: ``max_surge`` / ``max_unavailable`` over a revision's replicas.

Pure functions; :func:`llm_platform.promotion.strategies.rolling_update` applies the steps on
the runtime. Like a Kubernetes Deployment: at most ``replicas + surge`` servers exist and at
least ``replicas - unavailable`` serve at any time; percentages round the surge up and the
unavailable count down. One new replica always starts before any old one stops, because the
new revision is smoke-tested before it gets traffic.
"""

from __future__ import annotations

import math

from llm_platform.config.schema import IntOrPercent


def resolve(value: int | str, replicas: int, *, round_up: bool) -> int:
    """An absolute count from ``3`` or ``"25%"`` of ``replicas``."""
    if isinstance(value, int):
        return value
    share = float(value.rstrip("%")) * replicas / 100
    return math.ceil(share) if round_up else math.floor(share)


def surge_and_unavailable(
    max_surge: IntOrPercent, max_unavailable: IntOrPercent, replicas: int
) -> tuple[int, int]:
    """(surge, unavailable) as counts; both zero would never progress, so surge becomes 1."""
    surge = resolve(max_surge, replicas, round_up=True)
    unavailable = min(replicas, resolve(max_unavailable, replicas, round_up=False))
    return (1 if surge == 0 and unavailable == 0 else surge), unavailable


def rolling_steps(old: int, target: int, surge: int, unavailable: int) -> list[tuple[int, int]]:
    """The (old replicas, new replicas) after each step of the update, from (old, 0).

    Each step changes one side only: new replicas are added (then given their share of the
    traffic once ready) or old ones removed (after their share moved away).

    Raises:
        ValueError: ``surge`` and ``unavailable`` are both 0 (no step is possible).
    """
    if surge <= 0 and unavailable <= 0:
        raise ValueError("max_surge and max_unavailable cannot both be 0")
    steps: list[tuple[int, int]] = []
    new = 0
    while old > 0 or new < target:
        up = max(min(target, target + surge - old), 1 if new == 0 else 0)
        if up > new:
            new = up
            steps.append((old, new))
        down = 0 if new >= target else max(0, target - unavailable - new)
        if down < old:
            old = down
            steps.append((old, new))
    return steps


def traffic_share(new: int, old: int) -> int:
    """Percent of the traffic the new revision gets: proportional to its ready replicas."""
    return 100 if old == 0 else round(100 * new / (new + old))
