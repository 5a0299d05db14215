"""The SLO objectives registry: every objective the platform can gate on, declared once.

Each :class:`Objective` says which key of an ``slo:`` block configures it, its unit, how a value
compares with the threshold, the PromQL that measures it (built from the deployment's metric
profile, so one declaration serves the gateway's metric names and vLLM's), and a description.
Everything else derives from :data:`OBJECTIVES`: the ``slo:`` schema of environment configs and
model overrides, the evaluator and fleet mode, the per-objective Dagster checks, canary analysis
and the objective table in the docs. Adding an objective is one entry here (plus tests).

An objective with a ``default`` applies to every deployment; one without (``ttft_p95_ms``,
``tpot_p95_ms``) applies only where an ``slo:`` block or a model override sets it, and only then
gets a check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from llm_platform.slo.profiles import MetricProfile, Scope

Comparison = Literal["at_least", "at_most"]
Unit = Literal["ratio", "ms", "fraction"]
CanaryRule = Literal["additive", "ratio"]


@dataclass(frozen=True)
class Objective:
    """One service-level objective.

    Attributes:
        name: Name in verdicts, JSON output and check names (``slo_<name>``).
        key: Key in ``slo:`` blocks (``config/<env>.yaml`` and ``model.yaml`` overrides).
        unit: ``ms`` (query answers seconds, scaled by 1000), ``ratio`` or ``fraction``.
        comparison: ``at_least`` (value >= threshold passes) or ``at_most`` (value <= threshold).
        label: Human name used in reasons ("p95 latency").
        description: What is measured (UI text of the check, docs).
        query: PromQL for one scope (model or fleet, window, labels) of a metric profile; None
            for a histogram objective, whose query is the p95 of ``histogram``.
        histogram: For p95 objectives: the profile's histogram (base name, seconds).
        default: Threshold when no ``slo:`` block sets one; None: optional, unchecked unless set.
        gt, ge, le: Bounds of the threshold in the schema (None: unbounded).
        traffic: Needs ``min_requests`` requests in the window to be judged.
        samples: ``up`` when the objective is measured on the scrape job's ``up`` series
            (grouped by its model label, sample count = ``up`` samples); else ``requests``.
        canary: How a canary compares with the stable revision (None: objective only).
        budget: Whether the objective defines an error budget for burn-rate alerts: ``good``
            when the value is the good fraction (budget = 1 - threshold), ``bad`` when it is
            the bad fraction (budget = threshold); None: no budget (latencies).
    """

    name: str
    key: str
    unit: Unit
    comparison: Comparison
    label: str
    description: str
    query: Callable[[Scope], str] | None = None
    histogram: Callable[[MetricProfile], str] | None = None
    default: float | None = None
    gt: float | None = 0.0
    ge: float | None = None
    le: float | None = None
    traffic: bool = True
    samples: Literal["requests", "up"] = "requests"
    canary: CanaryRule | None = None
    budget: Literal["good", "bad"] | None = None

    def promql(self, scope: Scope) -> str:
        """The query that measures this objective in ``scope``."""
        if self.query is not None:
            return self.query(scope)
        if self.histogram is None:
            raise ValueError(f"objective {self.name} declares neither a query nor a histogram")
        return scope.histogram_p95(self.histogram(scope.profile))

    @property
    def check_name(self) -> str:
        """The Dagster asset check that reports this objective."""
        return f"slo_{self.name}"

    @property
    def scale(self) -> float:
        """Factor from the query's unit (seconds for latencies) to the objective's unit."""
        return 1000.0 if self.unit == "ms" else 1.0

    @property
    def suffix(self) -> str:
        """Unit suffix in human-readable reasons."""
        return " ms" if self.unit == "ms" else ""

    def met(self, value: float, threshold: float) -> bool:
        """Whether ``value`` meets ``threshold``."""
        return value >= threshold if self.comparison == "at_least" else value <= threshold

    def operator(self, ok: bool) -> str:
        """The comparison sign that describes a passing (``ok``) or failing value."""
        if self.comparison == "at_least":
            return ">=" if ok else "<"
        return "<=" if ok else ">"


OBJECTIVES: tuple[Objective, ...] = (
    Objective(
        name="availability",
        key="availability",
        unit="ratio",
        comparison="at_least",
        label="availability",
        description="avg_over_time(up) of the model's servers over the window >= objective.",
        query=lambda s: f"avg{s.by_up} (avg_over_time({s.up()}[{s.window}]))",
        default=0.999,
        le=1.0,
        traffic=False,
        samples="up",
        budget="good",
    ),
    Objective(
        name="latency_p95",
        key="latency_p95_ms",
        unit="ms",
        comparison="at_most",
        label="p95 latency",
        description="p95 of the end-to-end request duration over the window <= objective (ms).",
        histogram=lambda p: p.latency_histogram,
        default=2000.0,
        canary="ratio",
    ),
    Objective(
        name="error_rate",
        key="error_rate",
        unit="fraction",
        comparison="at_most",
        label="error rate",
        description="failed / total requests over the window <= objective (server-side only).",
        query=lambda s: f"sum{s.by_model} (increase({s.failed()}[{s.window}])) / {s.requests()}",
        default=0.01,
        gt=None,
        ge=0.0,
        le=1.0,
        canary="additive",
        budget="bad",
    ),
    Objective(
        name="ttft_p95",
        key="ttft_p95_ms",
        unit="ms",
        comparison="at_most",
        label="p95 time to first token",
        description="p95 time to the first content token (the whole response when not "
        "streaming) over the window <= objective (ms).",
        histogram=lambda p: p.ttft_histogram,
        canary="ratio",
    ),
    Objective(
        name="tpot_p95",
        key="tpot_p95_ms",
        unit="ms",
        comparison="at_most",
        label="p95 time per output token",
        description="p95 gap between content tokens of streamed responses over the window "
        "<= objective (ms).",
        histogram=lambda p: p.tpot_histogram,
        canary="ratio",
    ),
)

BY_NAME: dict[str, Objective] = {o.name: o for o in OBJECTIVES}


class Thresholds(Protocol):
    """What the evaluator needs from resolved objectives (``llm_platform.config.SLOObjectives``)."""

    @property
    def window(self) -> str: ...

    @property
    def min_requests(self) -> int: ...

    def threshold(self, objective: Objective) -> float | None:
        """The configured threshold, or None when the objective is not configured."""
        ...


def configured(objectives: Thresholds) -> list[tuple[Objective, float]]:
    """The objectives ``objectives`` sets, in registry order, with their thresholds."""
    out = []
    for objective in OBJECTIVES:
        threshold = objectives.threshold(objective)
        if threshold is not None:
            out.append((objective, threshold))
    return out


class QuerySet(BaseModel):
    """The instant queries of one SLO evaluation (one model, or a fleet).

    ``requests`` and ``availability_samples`` feed the traffic gate and the sample counts;
    ``objectives`` holds one query per configured objective, by objective name.
    """

    model_config = ConfigDict(frozen=True)

    requests: str
    availability_samples: str
    objectives: dict[str, str]


def build_queries(
    profile: MetricProfile,
    *,
    namespace: str,
    window: str,
    model: str | None = None,
    extra_labels: dict[str, str] | None = None,
    objectives: Iterable[Objective] = OBJECTIVES,
    group: tuple[str, ...] = (),
) -> QuerySet:
    """Build the PromQL for one model, or for every model of a namespace (``model=None``).

    With ``model=None`` every query is grouped ``by (<model label>)`` so that one query answers
    all models at once (fleet mode); otherwise each query aggregates to a single value.

    Args:
        profile: Metric names and labels to use.
        namespace: Kubernetes namespace (exact match).
        window: PromQL range, e.g. ``24h``.
        model: Model name (exact match), or None for fleet queries.
        extra_labels: Additional exact-match matchers, e.g. ``{"revision": "canary"}``.
        objectives: The objectives to query (default: all of them).
        group: Fleet mode only: labels kept beside the model label (e.g. ``("revision",)``).

    Raises:
        ValueError: On an invalid window or label name.
    """
    scope = Scope(
        profile,
        namespace=namespace,
        window=window,
        model=model,
        extra_labels=extra_labels,
        group=group,
    )
    return QuerySet(
        requests=scope.requests(),
        availability_samples=f"sum{scope.by_up} (count_over_time({scope.up()}[{window}]))",
        objectives={o.name: o.promql(scope) for o in objectives},
    )


def objectives_table() -> str:
    """The registry as a Markdown table (docs/slos.md and docs/architecture.md are checked
    against it)."""
    rows = [
        "| `slo:` key | check | unit | passes when | default | measures |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for o in OBJECTIVES:
        sign = ">=" if o.comparison == "at_least" else "<="
        default = "not checked unless set" if o.default is None else f"{o.default:g}"
        rows.append(
            f"| `{o.key}` | `{o.check_name}` | {o.unit} | value {sign} threshold | {default} "
            f"| {o.description} |"
        )
    return "\n".join(rows)
