"""Fleet SLO evaluation: every model of a namespace with a constant number of queries.

Models are grouped by window; each distinct window costs one query set (five queries) grouped
``by (<model label>)``, however many models share it.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from llm_platform.config import SLOObjectives
from llm_platform.slo.evaluate import Observations, SLOVerdict, make_verdict
from llm_platform.slo.profiles import DEFAULT_PROFILE, MetricProfile, build_queries
from llm_platform.slo.prom import InstantQueryClient, PrometheusError, PromSample


def _by_model(samples: list[PromSample], label: str, query: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for sample in samples:
        name = sample.labels.get(label)
        if name is None:
            raise PrometheusError(f"fleet query returned a series without {label!r}: {query}")
        if name in values:
            raise PrometheusError(f"fleet query returned two series for {label}={name}: {query}")
        values[name] = sample.value
    return values


def evaluate_fleet(
    client: InstantQueryClient,
    *,
    namespace: str,
    objectives_by_model: dict[str, SLOObjectives],
    profile: MetricProfile = DEFAULT_PROFILE,
    extra_labels: dict[str, str] | None = None,
    at: datetime | None = None,
    env: str | None = None,
) -> dict[str, SLOVerdict]:
    """Evaluate many models of one namespace with five queries per distinct window.

    Verdicts follow exactly the per-model rules of :func:`llm_platform.slo.evaluate`; each
    objective records the grouped query that was actually run.

    Args:
        client: Prometheus client.
        namespace: Kubernetes namespace shared by the models.
        objectives_by_model: Objectives per model name.
        profile: Metric names to query.
        extra_labels: Extra exact matchers applied to every query.
        at: Evaluation instant (default: now); the same for every model.
        env: Environment name recorded in the verdicts (defaults to ``namespace``).

    Returns:
        One verdict per requested model.

    Raises:
        PrometheusError: Prometheus is unreachable or rejected a query.
    """
    at = at or datetime.now(UTC)
    by_window: dict[str, list[str]] = defaultdict(list)
    for model, objectives in objectives_by_model.items():
        by_window[objectives.window].append(model)
    verdicts: dict[str, SLOVerdict] = {}
    for window, models in by_window.items():
        queries = build_queries(
            profile, namespace=namespace, window=window, extra_labels=extra_labels
        )
        mlabel, ulabel = profile.model_label, profile.up_model_label
        answers = {
            field: _by_model(client.query(query, at=at), label, query)
            for field, query, label in (
                ("requests", queries.requests, mlabel),
                ("latency_p95_s", queries.latency_p95, mlabel),
                ("error_rate", queries.error_rate, mlabel),
                ("availability", queries.availability, ulabel),
                ("availability_samples", queries.availability_samples, ulabel),
            )
        }
        for model in models:
            obs = Observations(**{field: vals.get(model) for field, vals in answers.items()})
            verdicts[model] = make_verdict(
                model, env or namespace, namespace, obs, objectives_by_model[model], queries, at
            )
    return verdicts
