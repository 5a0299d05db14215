"""Numbers rounded for people at the source: what the Dagster UI shows and plots.

A leaf module (no dagster): the assets round their metadata with it, so a latency reads
``412.3`` rather than ``412.28571428571``, and the values stay numbers the UI can plot. It also
holds how long a check description the UI is given.
"""

from __future__ import annotations

import math

#: Asset check descriptions are cut to this many characters.
MAX_CHECK_DESCRIPTION = 2000


def round_sig(value: float, digits: int = 4) -> float:
    """``value`` to ``digits`` significant digits (``0.123456`` -> ``0.1235``)."""
    if value == 0 or not math.isfinite(value):
        return float(value)
    return round(float(value), digits - 1 - math.floor(math.log10(abs(value))))


def round_ms(value: float) -> float:
    """Milliseconds to 0.1 ms."""
    return round(float(value), 1)


def round_seconds(value: float) -> float:
    """Seconds to 0.01 s."""
    return round(float(value), 2)


def round_ratio(value: float) -> float:
    """A ratio or rate (success rate, requests per second) to 4 significant digits."""
    return round_sig(value, 4)
