"""Fleet SLO evaluation: every model of a namespace with a constant number of queries.

Models are grouped by window and by the set of objectives they configure; each group costs one
query set (two queries plus one per objective) grouped ``by (<model label>)``, however many
models share it. With ``revisions`` (each model's serving revision) the queries also keep the
``revision`` label and each model is judged on its own revision's series only, exactly as a
single-model evaluation with ``extra_labels={"revision": ...}``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime

from llm_platform.slo.evaluate import Observations, SLOVerdict, make_verdict
from llm_platform.slo.objectives import Thresholds, build_queries, configured
from llm_platform.slo.profiles import DEFAULT_PROFILE, MetricProfile
from llm_platform.slo.prom import InstantQueryClient, PrometheusError, PromSample

#: The label that tells revisions of one model apart (the gateway's contract series).
REVISION_LABEL = "revision"

Key = tuple[str, str | None]


def _by_model(
    samples: list[PromSample], label: str, query: str, *, by_revision: bool = False
) -> dict[Key, float]:
    values: dict[Key, float] = {}
    for sample in samples:
        name = sample.labels.get(label)
        if name is None:
            raise PrometheusError(f"fleet query returned a series without {label!r}: {query}")
        key = (name, sample.labels.get(REVISION_LABEL) if by_revision else None)
        if key in values:
            what = f"{label}={name}" + (f", {REVISION_LABEL}={key[1]}" if by_revision else "")
            raise PrometheusError(f"fleet query returned two series for {what}: {query}")
        values[key] = sample.value
    return values


def evaluate_fleet(
    client: InstantQueryClient,
    *,
    namespace: str,
    objectives_by_model: Mapping[str, Thresholds],
    profile: MetricProfile = DEFAULT_PROFILE,
    extra_labels: dict[str, str] | None = None,
    at: datetime | None = None,
    env: str | None = None,
    revisions: dict[str, str] | None = None,
) -> dict[str, SLOVerdict]:
    """Evaluate many models of one namespace with one query set per distinct window.

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
        revisions: Each model's revision: judge only that revision's series (a model missing
            here has no data). None: every revision of the model together.

    Returns:
        One verdict per requested model.

    Raises:
        PrometheusError: Prometheus is unreachable or rejected a query.
    """
    at = at or datetime.now(UTC)
    split = revisions is not None
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)
    for model, objectives in objectives_by_model.items():
        names = tuple(o.name for o, _ in configured(objectives))
        groups[(objectives.window, names)].append(model)
    verdicts: dict[str, SLOVerdict] = {}
    for (window, _), models in groups.items():
        wanted = [o for o, _ in configured(objectives_by_model[models[0]])]
        queries = build_queries(
            profile,
            namespace=namespace,
            window=window,
            extra_labels=extra_labels,
            objectives=wanted,
            group=(REVISION_LABEL,) if split else (),
        )
        mlabel, ulabel = profile.model_label, profile.up_model_label
        requests = _by_model(
            client.query(queries.requests, at=at), mlabel, queries.requests, by_revision=split
        )
        up_samples = _by_model(
            client.query(queries.availability_samples, at=at),
            ulabel,
            queries.availability_samples,
            by_revision=split,
        )
        values = {
            o.name: _by_model(
                client.query(queries.objectives[o.name], at=at),
                ulabel if o.samples == "up" else mlabel,
                queries.objectives[o.name],
                by_revision=split,
            )
            for o in wanted
        }
        for model in models:
            key = (model, revisions.get(model) if revisions is not None else None)
            obs = Observations(
                requests=requests.get(key),
                availability_samples=up_samples.get(key),
                values={name: answers.get(key) for name, answers in values.items()},
            )
            verdicts[model] = make_verdict(
                model, env or namespace, namespace, obs, objectives_by_model[model], queries, at
            )
    return verdicts
