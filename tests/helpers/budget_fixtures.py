"""Backfilled histories whose error ratio and availability change over time (burn rates, soak).

Each :class:`Timeline` is one deployment: request counters, a latency histogram (every request
within 0.5 s) and ``up`` of the gateway's contract series, from ``start_s`` seconds before the
end until the end. ``error_ratio(age_s)`` and ``down(age_s)`` say what happened ``age_s``
seconds before the end. The OpenMetrics file is turned into TSDB blocks by promtool and served
by a real Prometheus (tests/helpers/prom_fixtures.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers.prom_fixtures import PrometheusProcess, backfill

STEP = 60


def production_yaml(slo_line: str) -> str:
    """``config/production.yaml`` for these histories: blue-green, judged over a 1 h window,
    plus the one ``slo`` setting ``slo_line`` (e.g. ``"min_requests: 100"``)."""
    return (
        "environment: production\nnamespace: production\n"
        "deployment:\n  strategy: blue-green\n"
        f"slo:\n  window: 1h\n  {slo_line}\n"
    )


def constant(value: float) -> Callable[[int], float]:
    """The same value at every age."""
    return lambda age: value


def during(start_ago: int, end_ago: int, inside: float, outside: float) -> Callable[[int], float]:
    """``inside`` while ``end_ago < age <= start_ago`` (seconds before the end), else
    ``outside``."""
    return lambda age: inside if end_ago < age <= start_ago else outside


@dataclass
class Timeline:
    """One model's history (see the module docstring)."""

    model: str
    namespace: str
    start_s: int
    rps: float = 2.0
    error_ratio: Callable[[int], float] = field(default_factory=lambda: constant(0.001))
    down: Callable[[int], float] = field(default_factory=lambda: constant(0.0))
    labels: dict[str, str] = field(default_factory=dict)


def revision_history(
    model: str, revision: str, seconds: int, namespace: str = "production", **shape: Any
) -> Timeline:
    """``model``'s history in ``namespace`` over the last ``seconds``, its series labelled with
    ``revision``; ``shape`` sets ``rps``, ``error_ratio`` or ``down``."""
    return Timeline(model, namespace, seconds, labels={"revision": revision}, **shape)


def _labels(items: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in items.items()) + "}"


def write(path: Path, timelines: list[Timeline], *, end: int, step: int = STEP) -> None:
    """Write every timeline as OpenMetrics (counters start at 0 at ``start_s``)."""
    families: dict[str, tuple[str, list[str]]] = {
        "llm_requests": ("counter", []),
        "llm_requests_failed": ("counter", []),
        "up": ("gauge", []),
        "llm_request_duration_seconds": ("histogram", []),
    }
    for tl in timelines:
        base = _labels({"model": tl.model, "namespace": tl.namespace, **tl.labels})
        up = _labels(
            {"job": "llm-model", "model": tl.model, "namespace": tl.namespace, **tl.labels}
        )
        total = failed = 0.0
        for age in range(tl.start_s - tl.start_s % step, -1, -step):
            t = end - age
            served = tl.rps * step if age < tl.start_s else 0.0
            total += served
            failed += served * tl.error_ratio(age)
            families["llm_requests"][1].append(f"llm_requests_total{base} {total:.6f} {t}")
            families["llm_requests_failed"][1].append(
                f"llm_requests_failed_total{base} {failed:.6f} {t}"
            )
            families["up"][1].append(f"up{up} {0 if tl.down(age) else 1} {t}")
            for le in ("0.5", "+Inf"):  # every request within 0.5 s: latency never matters here
                bucket = _labels(
                    {"model": tl.model, "namespace": tl.namespace, **tl.labels, "le": le}
                )
                families["llm_request_duration_seconds"][1].append(
                    f"llm_request_duration_seconds_bucket{bucket} {total:.6f} {t}"
                )
    with open(path, "w", encoding="utf-8") as out:
        for family, (kind, lines) in families.items():
            out.write(f"# TYPE {family} {kind}\n" + "\n".join(lines) + "\n")
        out.write("# EOF\n")


def start(tmp: Path, timelines: list[Timeline], *, end: int) -> PrometheusProcess:
    """Backfill ``timelines`` into a fresh TSDB under ``tmp`` and start Prometheus on it."""
    tmp.mkdir(parents=True, exist_ok=True)
    om_file, data_dir = tmp / "history.om", tmp / "data"
    write(om_file, timelines, end=end)
    backfill(om_file, data_dir)
    os.remove(om_file)
    return PrometheusProcess(data_dir)
