"""The SLO check of a deployed revision: wait for its data, judge it, decide, announce.

One use case for the staging and the production SLO checks. The revision's window verdict
(:func:`llm_platform.slo.evaluate`) is asked again for a few seconds while it is inconclusive
and the deployment is so young that Prometheus may not have scraped it yet. Staging verdicts
need the revision to have soaked (``slo.min_soak``); production adds the re-check's decision
from the window verdict and the error-budget burn rates (:mod:`llm_platform.slo.recheck`). A
production revision younger than its window with no evidence yet is not judged. Whatever is
judged is announced (:mod:`llm_platform.slo.announce`). Prometheus failing is an outcome
(:class:`SLOsUnavailable`), never a pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from llm_platform.slo.announce import Announcement, Announcer, announcement
from llm_platform.slo.budgets import BudgetThresholds, BudgetVerdict, evaluate_budgets
from llm_platform.slo.evaluate import SLOVerdict, evaluate
from llm_platform.slo.profiles import MetricProfile
from llm_platform.slo.prom import InstantQueryClient, PrometheusError
from llm_platform.slo.recheck import RecheckOutcome, outcome, soaking

#: A deployment younger than this may not have been scraped yet: wait for the data to settle.
SETTLE_AFTER_DEPLOY_S = 120.0
SETTLE_TIMEOUT_S = 20.0
SETTLE_POLL_S = 2.0


class DeploymentThresholds(BudgetThresholds, Protocol):
    """A deployment's resolved objectives (``llm_platform.config.SLOObjectives``): thresholds,
    budget period and the soak a staging revision must serve before it is judged."""

    @property
    def soak(self) -> str: ...


@dataclass(frozen=True)
class DeployedRevision:
    """The revision a deployment last deployed, as its SLO check needs it."""

    model: str
    env: str
    namespace: str
    #: ``""`` when the deployment recorded none: judged on all the model's series.
    revision: str
    #: Unix seconds; ``0`` when unknown (never waited for, never too young to judge).
    deployed_at: float


@dataclass(frozen=True)
class DeploymentCheck:
    """What an SLO check of a deployed revision found.

    ``not_judged`` says why the verdict is not judged yet (nothing was announced); otherwise
    ``announced`` is what was announced. ``decision`` is the production re-check's.
    """

    verdict: SLOVerdict
    decision: RecheckOutcome | None = None
    not_judged: str | None = None
    announced: Announcement | None = None


@dataclass(frozen=True)
class SLOsUnavailable:
    """Prometheus could not answer: nothing was judged or announced (never a pass)."""

    error: PrometheusError


class CheckLog(Protocol):
    """Where the check says what it found (a run's log)."""

    def info(self, msg: str) -> object:
        """An informational line."""
        ...

    def error(self, msg: str) -> object:
        """An error line."""
        ...


def check_deployed_revision(
    open_client: Callable[[], AbstractContextManager[InstantQueryClient]],
    deployed: DeployedRevision,
    *,
    objectives: DeploymentThresholds,
    profile: MetricProfile,
    production: bool,
    announcer: Announcer,
    log: CheckLog,
    settle_timeout_s: float = SETTLE_TIMEOUT_S,
    poll_s: float = SETTLE_POLL_S,
) -> DeploymentCheck | SLOsUnavailable:
    """Judge ``deployed`` against ``objectives`` and announce the verdict.

    Args:
        open_client: Opens the Prometheus client of the deployment's environment.
        deployed: The revision to judge.
        objectives: The model's effective objectives in the environment.
        profile: The metric names the deployment's engine exports.
        production: Judge as production (re-check decision, no soak) rather than staging.
        announcer: Told the announcement of a judged verdict.
        log: Told the verdict, or the Prometheus error.
        settle_timeout_s: How long a young deployment's inconclusive verdict is asked again.
        poll_s: Pause between those asks.
    """
    where = f"{deployed.model} in {deployed.env}"
    try:
        with open_client() as client:
            verdict = _settled_verdict(
                client,
                deployed,
                objectives=objectives,
                profile=profile,
                production=production,
                settle_timeout_s=settle_timeout_s,
                poll_s=poll_s,
            )
            budget = (
                _budget(client, deployed, objectives, profile, verdict.evaluated_at)
                if production
                else None
            )
    except PrometheusError as exc:
        log.error(f"SLO check of {where}: {exc}")
        return SLOsUnavailable(exc)
    log.info(f"SLO verdict for {where}: {verdict.verdict}: {verdict.reason}")
    decision = outcome(verdict, budget) if budget is not None else None
    young = soaking(verdict, decision, deployed.deployed_at, objectives.window)
    if young:  # no evidence can exist yet: not judged
        log.info(f"{where}: {young}; SLO checks not judged yet")
        return DeploymentCheck(verdict=verdict, decision=decision, not_judged=young)
    announced = announcement(verdict, decision)
    announcer.announce(announced)
    return DeploymentCheck(verdict=verdict, decision=decision, announced=announced)


def _settled_verdict(
    client: InstantQueryClient,
    deployed: DeployedRevision,
    *,
    objectives: DeploymentThresholds,
    profile: MetricProfile,
    production: bool,
    settle_timeout_s: float,
    poll_s: float,
) -> SLOVerdict:
    """The window verdict, asked again while inconclusive for a deployment just made."""
    young = time.time() - deployed.deployed_at < SETTLE_AFTER_DEPLOY_S
    settle_until = time.monotonic() + (settle_timeout_s if young else 0.0)
    while True:
        verdict = evaluate(
            client,
            model=deployed.model,
            namespace=deployed.namespace,
            objectives=objectives,
            profile=profile,
            extra_labels={"revision": deployed.revision} if deployed.revision else None,
            at=datetime.now(UTC),
            env=deployed.env,
            min_soak=None if production else objectives.soak,
        )
        if verdict.verdict != "inconclusive" or time.monotonic() >= settle_until:
            return verdict
        time.sleep(poll_s)


def _budget(
    client: InstantQueryClient,
    deployed: DeployedRevision,
    objectives: DeploymentThresholds,
    profile: MetricProfile,
    at: datetime,
) -> BudgetVerdict:
    """The model's error-budget verdict, queried for this model alone."""
    return evaluate_budgets(
        client,
        namespace=deployed.namespace,
        objectives_by_model={deployed.model: objectives},
        profile=profile,
        at=at,
        env=deployed.env,
        fleet=False,
    )[deployed.model]
