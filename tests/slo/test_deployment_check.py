"""The SLO check of a deployed revision as a use case: judged, announced, held or unavailable.

Prometheus is a fake that answers the queries the evaluator builds (by their exact text)."""

from __future__ import annotations

import time
from contextlib import nullcontext
from datetime import datetime

from llm_platform.config import SLOObjectives
from llm_platform.slo import DEFAULT_PROFILE, PrometheusError, PromSample, build_queries, configured
from llm_platform.slo.announce import Announcement
from llm_platform.slo.deployment_check import (
    DeployedRevision,
    DeploymentCheck,
    SLOsUnavailable,
    check_deployed_revision,
)
from llm_platform.slo.soak import soak_query

OBJ = SLOObjectives(window="1h", min_requests=100, min_soak="10m")
LABELS = {"revision": "r1"}


def _answers(env: str, latency_s: float | None) -> dict[str, float]:
    """Raw answers for model ``m``: plenty of traffic, all up, no errors, the given p95."""
    queries = build_queries(
        DEFAULT_PROFILE,
        namespace=env,
        window=OBJ.window,
        model="m",
        extra_labels=LABELS,
        objectives=[o for o, _ in configured(OBJ)],
    )
    answers = {
        queries.requests: 5000.0,
        queries.availability_samples: 240.0,
        queries.objectives["availability"]: 1.0,
        queries.objectives["error_rate"]: 0.0,
        soak_query(
            DEFAULT_PROFILE, namespace=env, min_soak=OBJ.soak, model="m", extra_labels=LABELS
        ): (time.time() - 86400),
    }
    if latency_s is not None:
        answers[queries.objectives["latency_p95"]] = latency_s
    return answers


class FakePrometheus:
    """Answers the queries it knows; any other query has no series."""

    def __init__(self, answers: dict[str, float], *, fail: bool = False) -> None:
        self.answers, self.fail, self.queries = answers, fail, 0

    def query(self, promql: str, *, at: datetime) -> list[PromSample]:
        self.queries += 1
        if self.fail:
            raise PrometheusError("connection refused")
        value = self.answers.get(promql)
        return [] if value is None else [PromSample(labels={}, value=value)]


class Recorded:
    """An announcer and a log that keep what they were told."""

    def __init__(self) -> None:
        self.announced: list[Announcement] = []
        self.lines: list[tuple[str, str]] = []

    def announce(self, announcement: Announcement) -> None:
        self.announced.append(announcement)

    def info(self, msg: str) -> None:
        self.lines.append(("info", msg))

    def error(self, msg: str) -> None:
        self.lines.append(("error", msg))


def _check(prom: FakePrometheus, seen: Recorded, *, env: str, deployed_at: float = 0.0):
    return check_deployed_revision(
        lambda: nullcontext(prom),
        DeployedRevision("m", env, env, "r1", deployed_at),
        objectives=OBJ,
        profile=DEFAULT_PROFILE,
        production=env == "production",
        announcer=seen,
        log=seen,
        settle_timeout_s=0.3,
        poll_s=0.05,
    )


def test_staging_failure_is_judged_and_announced() -> None:
    seen = Recorded()
    found = _check(FakePrometheus(_answers("staging", 3.0)), seen, env="staging")
    assert isinstance(found, DeploymentCheck)
    assert found.verdict.verdict == "fail" and found.decision is None and not found.not_judged
    assert found.announced == Announcement("fail", found.verdict.reason)
    assert seen.announced == [found.announced]
    assert seen.lines == [("info", f"SLO verdict for m in staging: fail: {found.verdict.reason}")]


def test_production_latency_failure_rolls_back() -> None:
    seen = Recorded()
    found = _check(FakePrometheus(_answers("production", 3.0)), seen, env="production")
    assert isinstance(found, DeploymentCheck)
    assert found.decision is not None and found.decision.action == "rollback"
    assert seen.announced == [Announcement("fail", found.decision.reason)]


def test_young_production_revision_without_evidence_is_not_judged() -> None:
    seen = Recorded()
    prom = FakePrometheus(_answers("production", None))
    found = _check(prom, seen, env="production", deployed_at=time.time() - 5)
    assert isinstance(found, DeploymentCheck)
    assert found.verdict.verdict == "inconclusive"
    assert found.not_judged and "soaking" in found.not_judged and found.announced is None
    assert not seen.announced
    assert seen.lines[-1] == (
        "info",
        f"m in production: {found.not_judged}; SLO checks not judged yet",
    )
    per_verdict = 2 + len(list(configured(OBJ)))  # requests, up samples, each objective
    assert prom.queries > 2 * per_verdict  # asked again while the fresh deployment settled


def test_an_old_deployment_is_asked_once() -> None:
    prom = FakePrometheus(_answers("staging", None))
    found = _check(prom, Recorded(), env="staging")
    assert isinstance(found, DeploymentCheck) and found.verdict.verdict == "inconclusive"
    assert prom.queries == 2 + len(list(configured(OBJ))) + 1  # the soak query too


def test_prometheus_failing_is_unavailable_never_a_pass() -> None:
    seen = Recorded()
    found = _check(FakePrometheus({}, fail=True), seen, env="production")
    assert isinstance(found, SLOsUnavailable) and "connection refused" in str(found.error)
    assert not seen.announced
    assert seen.lines == [("error", "SLO check of m in production: connection refused")]
