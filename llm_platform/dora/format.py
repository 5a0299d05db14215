"""The delivery metrics as a table (CLI text, asset markdown) and as plottable numbers (UI).

One list of columns serves ``llm-platform metrics`` and the ``delivery_metrics`` asset, so the
two always show the same table.
"""

from __future__ import annotations

from collections.abc import Callable

from llm_platform.common.ui_numbers import round_sig
from llm_platform.dora.metrics import DeliveryMetrics, DeliveryReport

NO_DATA = "-"


def format_hours(hours: float | None) -> str:
    """A duration given in hours, in a unit people read: ``45 s``, ``42 min``, ``3.5 h`` or
    ``2.1 d`` (``-`` for no data)."""
    if hours is None:
        return NO_DATA
    seconds = hours * 3600
    if abs(seconds) < 60:
        return f"{seconds:.0f} s"
    if abs(round(seconds / 60)) < 60:
        return f"{seconds / 60:.0f} min"
    if abs(hours) < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} d"


def _rate(value: float | None) -> str:
    return NO_DATA if value is None else f"{value:.0%}"


#: (heading, cell) per column, in table order; short headings keep the table within 80 columns.
COLUMNS: list[tuple[str, Callable[[DeliveryMetrics], str]]] = [
    ("model", lambda m: m.model),
    ("deploys", lambda m: str(m.deployments)),
    ("/day", lambda m: f"{m.deployment_frequency_per_day:.2f}"),
    ("lead p50", lambda m: format_hours(m.lead_time_p50_h)),
    ("lead p90", lambda m: format_hours(m.lead_time_p90_h)),
    ("fail rate", lambda m: f"{_rate(m.change_failure_rate)} ({m.failed_changes}/{m.changes})"),
    ("restore p50", lambda m: format_hours(m.time_to_restore_p50_h)),
    ("open", lambda m: str(m.open_incidents)),
]


def table_rows(report: DeliveryReport) -> list[list[str]]:
    """One row of cells per model, then the fleet."""
    return [[cell(m) for _, cell in COLUMNS] for m in report.rows()]


def title(report: DeliveryReport) -> str:
    """What the table covers."""
    return (
        f"delivery metrics, {report.env}, last {report.window_days:g} days "
        f"(until {report.until:%Y-%m-%d %H:%M} UTC)"
    )


def markdown_table(report: DeliveryReport) -> str:
    """The table in Markdown (the asset's UI description)."""
    head = "| " + " | ".join(h for h, _ in COLUMNS) + " |"
    rule = "|" + "---|" * len(COLUMNS)
    body = ["| " + " | ".join(row) + " |" for row in table_rows(report)]
    return "\n".join([head, rule, *body])


#: Numeric metrics plotted by the UI (key suffix -> value), ``None`` values left out. Every
#: duration is in hours whatever its size (the key says so), so a plot never mixes units; the
#: table above shows it in a readable unit.
_NUMERIC: list[tuple[str, Callable[[DeliveryMetrics], float | int | None]]] = [
    ("deployments", lambda m: m.deployments),
    ("deployment_frequency_per_day", lambda m: m.deployment_frequency_per_day),
    ("lead_time_p50_hours", lambda m: m.lead_time_p50_h),
    ("lead_time_p90_hours", lambda m: m.lead_time_p90_h),
    ("change_failure_rate", lambda m: m.change_failure_rate),
    ("time_to_restore_p50_hours", lambda m: m.time_to_restore_p50_h),
    ("open_incidents", lambda m: m.open_incidents),
]


def numeric_metrics(report: DeliveryReport) -> dict[str, float | int]:
    """``<model>/<metric>`` (``fleet/<metric>`` for the fleet) -> number, for UI plots.

    A metric without data (no promotion, no incident) is left out rather than plotted as 0;
    fractional values are rounded to 4 significant digits.
    """
    values: dict[str, float | int] = {}
    for m in report.rows():
        for key, get in _NUMERIC:
            value = get(m)
            if value is not None:
                values[f"{m.model}/{key}"] = (
                    value if isinstance(value, int) else round_sig(value, 4)
                )
    return values
