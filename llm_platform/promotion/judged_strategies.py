"""The strategies that judge the new revision on traffic before it takes over: canary (a share
of live traffic, :mod:`llm_platform.promotion.sequential`) and shadow (copies of production
requests, :mod:`llm_platform.promotion.shadow_analysis`). Both decide with the sequential judge
(:mod:`llm_platform.promotion.judge`) and may drive labelled synthetic traffic
(:mod:`llm_platform.promotion.analysis_traffic`) while they look.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from llm_platform.promotion.analysis import AnalysisTarget, CanaryAnalysis, CanaryThresholds
from llm_platform.promotion.analysis_traffic import TRAFFIC_LABEL, AnalysisTraffic
from llm_platform.promotion.sequential import sequential_analysis
from llm_platform.promotion.shadow_analysis import ShadowSource, shadow_analysis
from llm_platform.promotion.strategies import Outcome, RolloutContext, stage_new
from llm_platform.targets.base import InvalidDeploymentSpec


def _analysis_target(ctx: RolloutContext) -> AnalysisTarget:
    assert ctx.serving is not None
    return AnalysisTarget(
        env=ctx.plan.env,
        namespace=ctx.plan.metrics_namespace or ctx.plan.env,
        model=ctx.plan.model,
        canary=ctx.new.revision,
        stable=ctx.serving.revision,
    )


def _observe(
    ctx: RolloutContext, endpoint: str | None, run: Callable[[], CanaryAnalysis]
) -> CanaryAnalysis:
    """Run an analysis (step ``observe``), with synthetic traffic when the plan asks for it."""
    plan = ctx.plan
    with ctx.step("observe") as d:
        if plan.analysis_traffic_rps > 0 and endpoint is not None:
            traffic = AnalysisTraffic(
                endpoint,
                plan.model,
                rps=plan.analysis_traffic_rps,
                max_duration_s=plan.analysis_deadline_s,
                prompts=plan.analysis_prompts,
            )
            with traffic:
                analysis = run()
            d.text = (
                f"{analysis.looks} looks over {analysis.window_s:g}s, "
                f"{traffic.sent} synthetic requests sent (labelled {TRAFFIC_LABEL})"
            )
        else:
            analysis = run()
            d.text = f"{analysis.looks} looks over {analysis.window_s:g}s of live traffic"
        d.text += f"; {analysis.canary.requests or 0:.0f} candidate samples"
    return analysis


def _analyse(
    ctx: RolloutContext, endpoint: str | None, source: str, look: Callable[..., CanaryAnalysis]
) -> CanaryAnalysis:
    """Judge the new revision with ``look`` (an analysis bound to its sample source, named
    ``source``) under the plan's thresholds and timing: steps ``observe`` and ``analysis``."""
    plan = ctx.plan
    thresholds = plan.thresholds or CanaryThresholds()
    analysis = _observe(
        ctx,
        endpoint,
        lambda: look(
            _analysis_target(ctx),
            thresholds,
            look_every_s=plan.analysis_window_s,
            deadline_s=plan.analysis_deadline_s,
        ),
    )
    with ctx.step("analysis") as d:
        d.ok = analysis.verdict == "pass"
        d.text = f"{analysis.verdict} ({source}): {analysis.reason}"
    return analysis


def canary(ctx: RolloutContext) -> tuple[Outcome, str]:
    """Canary at ``canary_percentage`` -> sequential analysis -> promote, roll back or hold.

    The analysis looks every ``analysis_window_s`` until the judge decides or
    ``analysis_deadline_s``; inconclusive then does what ``on_inconclusive`` says: roll back,
    or hold (the canary keeps its share; the outcome ``held`` carries the reason).
    """
    plan = ctx.plan
    failure = stage_new(ctx)
    if failure:
        ctx.undo()
        return "rolled_back", failure
    assert ctx.serving is not None
    status = ctx.runtime.status(plan.env, plan.model)
    endpoint = status.endpoint if status is not None else None
    source = ctx.source_for(endpoint)
    source.begin(_analysis_target(ctx))
    pct = plan.canary_percentage
    ctx.switch({ctx.new.revision: pct, ctx.serving.revision: 100 - pct}, "canary_traffic")
    ctx.analysis = _analyse(ctx, endpoint, source.name, partial(sequential_analysis, source))
    if ctx.analysis.verdict == "inconclusive" and plan.on_inconclusive == "hold":
        return "held", (
            f"canary analysis inconclusive; held at {pct}% (analysis.on_inconclusive: hold): "
            f"{ctx.analysis.reason}"
        )
    if ctx.analysis.verdict != "pass":
        ctx.undo()
        return "rolled_back", f"canary analysis {ctx.analysis.verdict}: {ctx.analysis.reason}"
    ctx.switch({ctx.new.revision: 100, ctx.serving.revision: 0}, "promote")
    ctx.new = ctx.new.model_copy(update={"color": "stable", "weight": 100})
    ctx.apply([ctx.new, ctx.serving.model_copy(update={"weight": 0})], "relabel_stable")
    ctx.keep_for_rollback()
    return "promoted", (
        f"canary {ctx.new.revision} passed analysis and serves 100%; "
        f"{ctx.serving.revision} kept at 0% for rollback"
    )


def shadow(ctx: RolloutContext) -> tuple[Outcome, str]:
    """New revision at 0% -> smoke -> the gateway copies ``shadow_percentage`` % of production
    requests to it (answers discarded, clients never wait) -> the judge decides on the pairs
    -> blue-green switch; fail or inconclusive rolls back (``hold`` keeps the shadow running).
    """
    plan = ctx.plan
    failure = stage_new(ctx)
    if failure:
        ctx.undo()
        return "rolled_back", failure
    assert ctx.serving is not None
    status = ctx.runtime.status(plan.env, plan.model)
    if status is None or status.endpoint is None:
        raise InvalidDeploymentSpec(f"{plan.env}/{plan.model}: no gateway endpoint to shadow")
    source = ShadowSource(status.endpoint.rsplit("/", 1)[0], plan.model)
    source.begin()
    copied = ctx.new.model_copy(update={"weight": 0, "shadow_percent": plan.shadow_percentage})
    ctx.apply([ctx.serving, copied], "shadow_traffic")
    ctx.analysis = _analyse(ctx, status.endpoint, source.name, partial(shadow_analysis, source))
    if ctx.analysis.verdict == "inconclusive" and plan.on_inconclusive == "hold":
        return "held", f"shadow analysis inconclusive; shadow kept running: {ctx.analysis.reason}"
    if ctx.analysis.verdict != "pass":
        ctx.undo()
        return "rolled_back", f"shadow analysis {ctx.analysis.verdict}: {ctx.analysis.reason}"
    ctx.apply([ctx.serving, ctx.new], "stop_shadow")
    ctx.switch({ctx.new.revision: 100, ctx.serving.revision: 0})
    ctx.keep_for_rollback()
    return "promoted", (
        f"{ctx.new.revision} ({ctx.new.color}) passed on {ctx.analysis.canary.requests:.0f} "
        f"copied requests and serves 100%; {ctx.serving.revision} kept at 0% for rollback"
    )
