"""Production rollouts with automatic rollback: the plan, the result and the entry points.

``execute_rollout`` runs one strategy (blue-green, canary, rolling-update; a first deployment
when nothing serves) and rolls back on its own when the smoke test, readiness or the canary
analysis fails. ``rollback`` restores a previous revision (used by the production SLO sensor);
``retire_previous`` removes the rollback target once its window is over.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from llm_platform.common.durations import duration_seconds
from llm_platform.common.errors import PlatformError
from llm_platform.common.strategy_names import STRATEGY_SPECS, Strategy
from llm_platform.config import EnvironmentConfig
from llm_platform.config.applicability import serving_replicas
from llm_platform.endpoint_tests import run_suite
from llm_platform.promotion.analysis import CanaryThresholds
from llm_platform.promotion.metric_sources import GatewayMetricsSource, PrometheusSource
from llm_platform.promotion.plan import RolloutPlan
from llm_platform.promotion.revisions import revision_name, revision_spec
from llm_platform.promotion.sequential import SampleSource
from llm_platform.promotion.strategies import (
    Outcome,
    RolloutContext,
    RolloutStep,
    SmokeTest,
    first_deployment,
)
from llm_platform.promotion.strategy_table import STRATEGIES
from llm_platform.serving.engines.selection import ServingChoice
from llm_platform.slo import PROFILES
from llm_platform.slo.endpoint import connect
from llm_platform.targets.base import (
    DeploymentNotFound,
    DeploymentSpec,
    InvalidDeploymentSpec,
    RevisionSpec,
    Runtime,
)

__all__ = [
    "RolloutPlan",
    "RolloutResult",
    "execute_rollout",
    "plan_from_environment",
    "retire_previous",
    "rollback",
]


class RolloutResult(BaseModel):
    """What a rollout (or rollback) did, step by step, and why it ended as it did."""

    outcome: Outcome
    strategy: Strategy | Literal["first-deployment", "rollback"]
    env: str
    model: str
    new_revision: str
    previous_revision: str | None
    new_spec: RevisionSpec
    previous_spec: RevisionSpec | None
    steps: list[RolloutStep]
    reason: str
    smoke: dict[str, object] | None = None
    analysis: dict[str, object] | None = None
    retire_after: datetime | None = Field(
        default=None, description="previous revision kept at 0% for rollback until then"
    )
    duration_s: float = 0.0


def plan_from_environment(
    config: EnvironmentConfig,
    *,
    env: str,
    model: str,
    version: str,
    digest: str,
    artifact_uri: str,
    serving: ServingChoice | None = None,
    **overrides: object,
) -> RolloutPlan:
    """A plan with the environment's strategy, canary percentage and SLO thresholds.

    Args:
        config: ``config/<env>.yaml`` of the target environment.
        env: the runtime's environment name.
        model: model name.
        version: model version.
        digest: artifact digest (hex).
        artifact_uri: where the artifact's files are stored (the runtime verifies the digest).
        serving: the engine and launch settings staging chose (None: the builtin server).
        **overrides: any other :class:`RolloutPlan` field (windows, prometheus_url, ...).

    Raises:
        pydantic.ValidationError: an inconsistent combination (named field).
    """
    data: dict[str, object] = {
        "env": env,
        "model": model,
        "version": version,
        "digest": digest,
        "artifact_uri": artifact_uri,
        "strategy": config.deployment.strategy,
        "canary_percentage": config.deployment.canary_percentage,
        "shadow_percentage": config.deployment.shadow_percentage,
        "replicas": serving_replicas(config.autoscaling),
        "max_surge": config.deployment.max_surge,
        "max_unavailable": config.deployment.max_unavailable,
        "thresholds": CanaryThresholds.from_objectives(config.slo).model_copy(
            update={
                "confidence": config.analysis.confidence,
                "max_increase": config.analysis.max_increase,
            }
        ),
        "analysis_window_s": duration_seconds(config.analysis.look_every),
        "analysis_deadline_s": duration_seconds(config.analysis.deadline),
        "on_inconclusive": config.analysis.on_inconclusive,
        "analysis_traffic_rps": config.analysis.traffic_rps,
        "extensions": config.serving.extensions,
    }
    if serving is not None:
        data.update(serving.model_dump())
    return RolloutPlan.model_validate({**data, **overrides})


def _serving(spec: DeploymentSpec | None) -> RevisionSpec | None:
    if spec is None:
        return None
    live = [r for r in spec.revisions if r.weight > 0]
    if len(live) != 1:
        split = {r.revision: r.weight for r in live}
        raise InvalidDeploymentSpec(
            f"{spec.env}/{spec.model}: traffic is split {split}; another rollout is in progress"
        )
    return live[0]


def _default_source(plan: RolloutPlan) -> Callable[[str | None], SampleSource]:
    def make(endpoint: str | None) -> SampleSource:
        if plan.prometheus_url:
            client = connect(plan.prometheus_url, timeout=10.0)
            return PrometheusSource(client, profile=PROFILES[plan.metric_profile])
        if endpoint is None:
            raise PlatformError(f"{plan.env}/{plan.model}: no gateway endpoint to analyse")
        return GatewayMetricsSource(endpoint.rsplit("/", 1)[0])

    return make


def execute_rollout(
    runtime: Runtime,
    plan: RolloutPlan,
    *,
    smoke: SmokeTest = run_suite,
    analyzer: SampleSource | None = None,
) -> RolloutResult:
    """Roll ``plan`` out with its strategy; roll back automatically when a gate fails.

    Args:
        runtime: the serving target.
        plan: what to deploy and how.
        smoke: the smoke test (``run_suite``-like), run against the new revision's own URL.
        analyzer: canary metrics source (default: Prometheus when ``plan.prometheus_url`` is
            set, else the gateway's ``/metrics`` diffed over the window).

    Returns:
        ``promoted``, ``rolled_back`` (a gate failed; the previous state is restored),
        ``held`` (a canary analysis inconclusive at its deadline with ``on_inconclusive:
        hold``: the canary keeps its share) or ``failed`` (could not start, or the rollback
        itself failed), with every step.

    Raises:
        Exception: unexpected errors propagate after a rollback attempt (never swallowed).
    """
    t0 = time.perf_counter()
    current = runtime.desired_spec(plan.env, plan.model)
    serving = _serving(current)
    taken = {r.revision for r in current.revisions} if current else set()
    new = revision_spec(
        revision=revision_name(plan.version, plan.digest, taken=taken),
        version=plan.version,
        digest=plan.digest,
        artifact_uri=plan.artifact_uri,
        serving=plan.serving,
        replicas=plan.replicas,
        color=STRATEGY_SPECS[plan.strategy].new_color(serving.color if serving else None),
        weight=0,
        latency_ms=plan.latency_ms,
        error_rate=plan.error_rate,
        extensions=plan.extensions,
    )
    source_for = (lambda _: analyzer) if analyzer is not None else _default_source(plan)
    ctx = RolloutContext(runtime, plan, smoke, source_for, serving, new)
    run = STRATEGIES[plan.strategy] if serving is not None else first_deployment
    label: Strategy | Literal["first-deployment"] = (
        plan.strategy if serving is not None else "first-deployment"
    )
    same = serving is not None and serving.model_dump(exclude={"revision", "color", "weight"}) == (
        new.model_dump(exclude={"revision", "color", "weight"})
    )
    outcome: Outcome = "failed"
    try:
        if same:
            assert serving is not None
            outcome, reason, ctx.new = "promoted", f"already serving as {serving.revision}", serving
        else:
            outcome, reason = run(ctx)
    except PlatformError as exc:
        failed_step = ctx.steps[-1].name if ctx.steps else "start"
        reason = f"{failed_step} failed: {exc}"
        try:
            ctx.undo()
            outcome = "rolled_back" if ctx.changed else "failed"
        except PlatformError as undo_exc:
            outcome, reason = "failed", f"{reason}; rollback failed too: {undo_exc}"
    except BaseException:
        ctx.undo()  # best effort to restore serving; the original error is re-raised
        raise
    return RolloutResult(
        outcome=outcome,
        strategy=label,
        env=plan.env,
        model=plan.model,
        new_revision=ctx.new.revision,
        previous_revision=serving.revision if serving and not same else None,
        new_spec=ctx.new.model_copy(update={"weight": 100}),
        previous_spec=serving if not same else None,
        steps=ctx.steps,
        reason=reason,
        smoke=ctx.smoke.model_dump(mode="json") if ctx.smoke else None,
        analysis=ctx.analysis.model_dump(mode="json") if ctx.analysis else None,
        retire_after=ctx.retire_after if outcome == "promoted" else None,
        duration_s=round(time.perf_counter() - t0, 3),
    )


def rollback(
    runtime: Runtime,
    *,
    env: str,
    model: str,
    to_revision: RevisionSpec | str,
    ready_timeout_s: float = 60.0,
) -> RolloutResult:
    """Give 100% back to a previous revision and remove the others.

    Args:
        runtime: the serving target.
        env: environment.
        model: model name.
        to_revision: the revision to restore: its spec (redeployed when no longer running,
            e.g. ``RolloutResult.previous_spec``), or the name of a revision still desired.
        ready_timeout_s: how long the restored revision may take to become ready.

    Returns:
        ``rolled_back`` when the revision serves 100% alone; ``failed`` otherwise (the current
        revisions keep serving).

    Raises:
        DeploymentNotFound: no such deployment, or a name that is not desired any more.
    """
    t0 = time.perf_counter()
    current = runtime.desired_spec(env, model)
    if current is None:
        raise DeploymentNotFound(f"{env}/{model}: no such deployment to roll back")
    by_name = {r.revision: r for r in current.revisions}
    name = to_revision if isinstance(to_revision, str) else to_revision.revision
    if isinstance(to_revision, str):
        if name not in by_name:
            raise DeploymentNotFound(
                f"{env}/{model}: revision {name} is not desired any more; pass its RevisionSpec"
            )
        target = by_name[name]
    else:
        target = by_name.get(name, to_revision)
    target = target.model_copy(update={"weight": 100})
    removed = [r for r in current.revisions if r.revision != name]
    bad = next((r for r in removed if r.weight > 0), removed[0] if removed else None)
    plan = RolloutPlan(
        env=env,
        model=model,
        version=target.version,
        digest=target.digest,
        artifact_uri=target.artifact_uri,
        engine=target.engine,
        strategy="rolling-update",
        ready_timeout_s=ready_timeout_s,
    )
    ctx = RolloutContext(runtime, plan, run_suite, _default_source(plan), None, target)
    outcome: Outcome = "failed"
    try:
        if name in by_name:
            try:
                ctx.switch({name: 100}, "switch_back")
            except InvalidDeploymentSpec:
                # Not routable now: applying it alone keeps the others serving until it is.
                ctx.steps[-1].detail += " (re-applying it alone instead)"
        ctx.apply([target], "restore")
        ctx.wait_ready_any()
        outcome = "rolled_back"
        reason = f"{name} ({target.digest[:12]}) serves 100%; removed " + (
            ", ".join(r.revision for r in removed) or "nothing"
        )
    except PlatformError as exc:
        outcome, reason = "failed", f"{ctx.steps[-1].name} failed: {exc}"
    return RolloutResult(
        outcome=outcome,
        strategy="rollback",
        env=env,
        model=model,
        new_revision=name,
        previous_revision=bad.revision if bad else None,
        new_spec=target,
        previous_spec=bad,
        steps=ctx.steps,
        reason=reason,
        duration_s=round(time.perf_counter() - t0, 3),
    )


def retire_previous(runtime: Runtime, *, env: str, model: str) -> list[str]:
    """Remove every revision at 0% (the rollback target, once its window is over).

    Returns:
        The removed revision names (empty when there was none).
    """
    current = runtime.desired_spec(env, model)
    if current is None:
        raise DeploymentNotFound(f"{env}/{model}: no such deployment")
    idle = [r.revision for r in current.revisions if r.weight == 0]
    if idle:
        keep = [r for r in current.revisions if r.weight > 0]
        runtime.apply(DeploymentSpec(env=env, model=model, revisions=keep))
    return idle
