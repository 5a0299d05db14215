"""The rollout context and the plain strategies (first deployment, blue-green, rolling update)
on the target-neutral :class:`Runtime`; canary and shadow are in
:mod:`llm_platform.promotion.judged_strategies`, the table by name in
:mod:`llm_platform.promotion.strategy_table`.

Every strategy starts the new revision next to the serving one at weight 0, waits until it is
ready and smoke-tests its own URL before it gets any traffic; every traffic change is one
``runtime.set_weights`` call (atomic on the gateway). A strategy returns ``(outcome, reason)``;
an exception from a step is turned into a rollback by :func:`llm_platform.promotion.rollout.
execute_rollout`, which calls :meth:`RolloutContext.undo`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from pydantic import BaseModel

from llm_platform.endpoint_tests import SuiteReport
from llm_platform.promotion.analysis import CanaryAnalysis
from llm_platform.promotion.plan import RolloutPlan
from llm_platform.promotion.rolling import rolling_steps, surge_and_unavailable, traffic_share
from llm_platform.promotion.sequential import SampleSource
from llm_platform.serving.engines import get_engine
from llm_platform.serving.engines.selection import streams_through_gateway
from llm_platform.targets.base import (
    DeploymentNotFound,
    DeploymentSpec,
    InvalidDeploymentSpec,
    RevisionSpec,
    Runtime,
)

#: ``held``: a canary left at its share because its analysis was inconclusive at the deadline
#: and the environment says ``analysis.on_inconclusive: hold``.
Outcome = Literal["promoted", "rolled_back", "failed", "held"]


class SmokeTest(Protocol):
    """The shape of :func:`llm_platform.endpoint_tests.run_suite`."""

    def __call__(
        self,
        base_url: str,
        *,
        model: str,
        concurrency: int,
        requests: int,
        min_success_rate: float,
        timeout_s: float,
        health_path: str,
        stream: bool,
        chat: bool,
    ) -> SuiteReport:
        """Test one endpoint."""
        ...


class RolloutStep(BaseModel):
    """One recorded step of a rollout."""

    name: str
    started_at: datetime
    duration_s: float
    ok: bool
    detail: str


@dataclass
class StepDetail:
    """Filled in by a step's body: what happened, and whether the step's check passed."""

    text: str = ""
    ok: bool = True


@dataclass
class RolloutContext:
    """State of one rollout: the runtime, the plan, the serving and the new revision."""

    runtime: Runtime
    plan: RolloutPlan
    smoke_test: SmokeTest
    source_for: Callable[[str | None], SampleSource]
    serving: RevisionSpec | None
    new: RevisionSpec
    steps: list[RolloutStep] = field(default_factory=list)
    smoke: SuiteReport | None = None
    analysis: CanaryAnalysis | None = None
    retire_after: datetime | None = None
    changed: bool = False

    @contextmanager
    def step(self, name: str) -> Iterator[StepDetail]:
        """Record a step; an exception marks it failed (with its message) and propagates."""
        started, t0, detail = datetime.now(UTC), time.perf_counter(), StepDetail()
        try:
            yield detail
        except BaseException as exc:
            self._record(name, started, t0, False, f"{type(exc).__name__}: {exc}")
            raise
        self._record(name, started, t0, detail.ok, detail.text)

    def _record(self, name: str, started: datetime, t0: float, ok: bool, text: str) -> None:
        self.steps.append(
            RolloutStep(
                name=name,
                started_at=started,
                duration_s=round(time.perf_counter() - t0, 3),
                ok=ok,
                detail=text,
            )
        )

    # -- operations -----------------------------------------------------------------------

    def apply(self, revisions: list[RevisionSpec], what: str) -> None:
        """Make ``revisions`` the desired spec."""
        with self.step(what) as d:
            spec = DeploymentSpec(env=self.plan.env, model=self.plan.model, revisions=revisions)
            self.changed = True
            self.runtime.apply(spec)
            d.text = ", ".join(f"{r.revision}={r.weight}%" for r in revisions)

    def wait_ready(self) -> str:
        """Wait until every revision is ready; return the new revision's own URL (through the
        gateway when the runtime offers that, so that its injected faults apply)."""
        with self.step("wait_ready") as d:
            status = self.runtime.wait_ready(
                self.plan.env, self.plan.model, timeout_s=self.plan.ready_timeout_s
            )
            urls = {r.revision: r.gateway_url or r.url for r in status.revisions}
            url = urls.get(self.new.revision)
            if url is None:
                raise InvalidDeploymentSpec(f"revision {self.new.revision} has no URL: {urls}")
            d.text = f"{self.new.revision} ready at {url}"
            return url

    def switch(self, weights: dict[str, int], what: str = "switch") -> None:
        """Shift traffic atomically."""
        with self.step(what) as d:
            self.runtime.set_weights(self.plan.env, self.plan.model, weights)
            d.text = ", ".join(f"{k}={v}%" for k, v in weights.items())

    def run_smoke(self, url: str) -> str | None:
        """Smoke-test the new revision's own URL; the failure reason, or None when it passed."""
        with self.step("smoke") as d:
            engine = get_engine(self.plan.engine)
            report = self.smoke_test(
                url,
                model=self.plan.model,
                health_path=engine.readiness_path,
                stream=streams_through_gateway(engine),
                chat=engine.supports_chat,
                concurrency=min(4, self.plan.smoke_requests),
                requests=self.plan.smoke_requests,
                min_success_rate=self.plan.smoke_min_success_rate,
                timeout_s=self.plan.smoke_timeout_s,
            )
            self.smoke = report
            failed = [f"{t.name}: {t.detail}" for t in report.tests if not t.passed]
            if report.passed:
                d.text = f"{len(report.tests)} tests passed against {url}"
                return None
            d.ok, d.text = False, "; ".join(failed)
            return f"smoke test of revision {self.new.revision} at {url} failed: " + "; ".join(
                failed
            )

    def undo(self) -> None:
        """Restore the state before the rollout: the serving revision at 100, or nothing."""
        if not self.changed:
            return
        env, model = self.plan.env, self.plan.model
        if self.serving is None:
            with self.step("rollback") as d:
                try:
                    self.runtime.delete(env, model)
                    d.text = f"removed {env}/{model} (nothing served before)"
                except DeploymentNotFound:
                    d.text = f"{env}/{model} was never created: nothing to remove"
            return
        keep = self.serving.model_copy(update={"weight": 100})
        with self.step("rollback") as d:
            try:
                self.runtime.set_weights(env, model, {keep.revision: 100})
                d.text = f"{keep.revision}=100% (switched back)"
            except InvalidDeploymentSpec as exc:
                # Not routable right now: re-applying it alone keeps the current revisions
                # serving until it is healthy again (Runtime.apply contract).
                d.text = f"switch back refused ({exc}); re-applied {keep.revision} alone"
        self.apply([keep], "remove_new")
        self.wait_ready_any()

    def wait_ready_any(self) -> None:
        """Wait until the deployment is ready (no URL of the new revision needed)."""
        with self.step("wait_ready") as d:
            self.runtime.wait_ready(
                self.plan.env, self.plan.model, timeout_s=self.plan.ready_timeout_s
            )
            d.text = "ready"

    def keep_for_rollback(self) -> None:
        """Keep the previous revision at 0% as the rollback target until the window ends.

        The runtime removes it then (``retire_at``), whether or not another rollout comes.
        """
        self.retire_after = datetime.now(UTC) + timedelta(seconds=self.plan.rollback_window_s)
        assert self.serving is not None
        kept = self.serving.model_copy(
            update={"weight": 0, "retire_at": self.retire_after.timestamp()}
        )
        self.apply([self.new.model_copy(update={"weight": 100}), kept], "keep_for_rollback")


# -- strategies ---------------------------------------------------------------------------


def first_deployment(ctx: RolloutContext) -> tuple[Outcome, str]:
    """Nothing serves yet: the runtime needs weights summing to 100, so deploy straight."""
    ctx.apply([ctx.new.model_copy(update={"weight": 100})], "deploy")
    failure = ctx.run_smoke(ctx.wait_ready())
    if failure:
        ctx.undo()
        return "rolled_back", failure
    return "promoted", f"first deployment: {ctx.new.revision} serves 100%"


def stage_new(ctx: RolloutContext) -> str | None:
    """Start the new revision at 0% next to the serving one, wait, smoke; failure reason."""
    assert ctx.serving is not None
    ctx.apply([ctx.serving, ctx.new.model_copy(update={"weight": 0})], "deploy")
    url = ctx.wait_ready()
    routed_at = time.monotonic()
    failure = ctx.run_smoke(url) if ctx.plan.smoke_requests > 0 else None
    # The gateway exports the new revision's series at zero once it is routed (weight 0); let
    # Prometheus scrape them before the revision gets traffic, or increase() would not count
    # the first requests (it ignores a series' first sample).
    time.sleep(max(0.0, ctx.plan.metrics_settle_s - (time.monotonic() - routed_at)))
    return failure


def blue_green(ctx: RolloutContext) -> tuple[Outcome, str]:
    """Green at 0% -> smoke -> switch 100% -> keep blue at 0% for the rollback window."""
    failure = stage_new(ctx)
    if failure:
        ctx.undo()
        return "rolled_back", failure
    assert ctx.serving is not None
    ctx.switch({ctx.new.revision: 100, ctx.serving.revision: 0})
    ctx.keep_for_rollback()
    return "promoted", (
        f"{ctx.new.revision} ({ctx.new.color}) serves 100%; {ctx.serving.revision} kept at 0% "
        f"for rollback until {ctx.retire_after:%Y-%m-%dT%H:%M:%SZ}"
    )


def _split(ctx: RolloutContext, share: int) -> dict[str, int]:
    """Weights giving the new revision ``share`` percent (the serving one, if any, the rest)."""
    assert ctx.serving is not None
    weights = {ctx.new.revision: share}
    if share < 100:
        weights[ctx.serving.revision] = 100 - share
    return weights


def rolling_update(ctx: RolloutContext) -> tuple[Outcome, str]:
    """Replace the old replicas by new ones within ``max_surge`` / ``max_unavailable``.

    The first new replica is smoke-tested before it gets traffic; after every step the
    traffic follows the ready replicas (each revision's share is spread over its replicas),
    and old replicas lose their share before they are drained and stopped.
    """
    assert ctx.serving is not None
    target = ctx.plan.replicas
    surge, unavailable = surge_and_unavailable(ctx.plan.max_surge, ctx.plan.max_unavailable, target)
    steps = rolling_steps(ctx.serving.replicas, target, surge, unavailable)
    old, new = ctx.serving.replicas, 0
    for step_old, step_new in steps:
        share = traffic_share(new, old)
        old_spec = ctx.serving.model_copy(update={"replicas": max(1, step_old)})
        if step_new > new:  # add new replicas (not routed before they are healthy)
            ctx.new = ctx.new.model_copy(update={"replicas": step_new})
            revisions = [ctx.new.model_copy(update={"weight": share})]
            if old:
                revisions.append(old_spec.model_copy(update={"weight": 100 - share}))
            if new == 0:
                failure = stage_new(ctx)
                if failure:
                    ctx.undo()
                    return "rolled_back", failure
            else:
                ctx.apply(revisions, f"scale_new_{step_new}")
                ctx.wait_ready()
            new = step_new
            share = traffic_share(new, old)
            ctx.switch(_split(ctx, share))
        if step_old < old:  # move the share away, then drain and stop old replicas
            old = step_old
            share = traffic_share(new, old)
            ctx.switch(_split(ctx, share))
            revisions = [ctx.new.model_copy(update={"weight": share})]
            if old:
                revisions.append(old_spec.model_copy(update={"weight": 100 - share}))
            ctx.apply(revisions, f"scale_old_{old}")
    return "promoted", (
        f"{ctx.new.revision} serves 100% on {new} replicas; {ctx.serving.revision} removed "
        f"(max surge {surge}, max unavailable {unavailable})"
    )
