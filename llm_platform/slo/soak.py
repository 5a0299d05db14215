"""Soak time: how long a revision has been serving, read from the age of its Prometheus series.

Where the start time comes from: the gateway exports a revision's request counter (labelled
``revision``) from the moment the revision joins the routing table, zero-valued until its first
request, and Prometheus scrapes it from then on. The oldest sample of that series is therefore
the moment the revision started serving, as observed by the same system that judges it -- not
the moment a deploy step was *asked* for (a Dagster materialization or a ledger entry are
written whether or not the servers ever came up, and are not visible to ``slo check``). A
revision that crashed and came back keeps its first sample (its soak counts from the first
start); one whose series Prometheus no longer retains has not soaked as far as the gate knows.

The query takes the minimum of ``timestamp()`` over a subquery that looks back twice
``min_soak``, so the reported soak is capped at that look-back and is rounded *down* to the
subquery step (``look-back / 500``, at least 1 s): a measurement error can only make a revision
look younger, never old enough too early.
"""

from __future__ import annotations

import math
from datetime import datetime

from llm_platform.common.durations import duration_seconds
from llm_platform.slo.profiles import MetricProfile, Scope

#: Sub-query points per look-back (resolution of the start time).
SOAK_POINTS = 500
#: The look-back is this multiple of ``min_soak`` (the largest soak the query can report).
SOAK_LOOKBACK_FACTOR = 2


def _seconds_text(seconds: float) -> str:
    return f"{max(1, math.ceil(seconds))}s"


def soak_query(
    profile: MetricProfile,
    *,
    namespace: str,
    min_soak: str,
    model: str | None = None,
    extra_labels: dict[str, str] | None = None,
) -> str:
    """PromQL for the unix time a revision (or, with ``model=None``, each model) started serving.

    Args:
        profile: Metric names and labels.
        namespace: Kubernetes namespace (exact match).
        min_soak: The required soak (a Prometheus duration); the look-back is twice as long.
        model: Model name, or None for one result per model (fleet mode).
        extra_labels: Extra exact matchers, e.g. ``{"revision": "..."}``.

    Raises:
        ValueError: On an invalid duration or label name.
    """
    lookback = SOAK_LOOKBACK_FACTOR * duration_seconds(min_soak)
    window, step = _seconds_text(lookback), _seconds_text(lookback / SOAK_POINTS)
    scope = Scope(
        profile, namespace=namespace, window=window, model=model, extra_labels=extra_labels
    )
    p = profile
    series = f"{p.requests_total}{scope.select(p.model_label, p.requests_total_matchers)}"
    return f"min_over_time(min{scope.by_model} (timestamp({series}))[{window}:{step}])"


def soaked_seconds(started_at: float | None, at: datetime) -> float | None:
    """Seconds between ``started_at`` (unix time, None: never seen) and ``at``."""
    if started_at is None or math.isnan(started_at):
        return None
    return max(0.0, at.timestamp() - started_at)


def soak_gate(soaked: float | None, min_soak: str) -> str | None:
    """Why a verdict cannot count yet, or None when the revision has soaked long enough."""
    if soaked is None:
        return f"the revision has not served yet (it must serve for {min_soak} first)"
    if soaked < duration_seconds(min_soak):
        return f"the revision has served for {soaked:.0f} s only (it must serve for {min_soak})"
    return None
