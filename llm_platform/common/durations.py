"""Prometheus durations (``30s``, ``5m``, ``1h30m``, ``7d``): the one pattern config and PromQL use.

A leaf module: the config schema validates windows with it and the SLO package renders them into
PromQL ranges, so both accept exactly the same strings.
"""

from __future__ import annotations

import re

_DURATION = re.compile(r"^(?:\d+(?:ms|s|m|h|d|w|y))+$")
_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def duration_seconds(value: str) -> float:
    """Seconds in a Prometheus duration such as ``30s``, ``5m``, ``1h30m`` or ``7d``."""
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(value))


def check_duration(value: str) -> str:
    """Validate a Prometheus duration longer than zero.

    Raises:
        ValueError: When ``value`` is not a Prometheus duration, or is zero.
    """
    if not _DURATION.match(value):
        raise ValueError(f"{value!r} is not a Prometheus duration (e.g. 30s, 5m, 24h, 7d)")
    if duration_seconds(value) <= 0:
        raise ValueError("must be longer than zero")
    return value
