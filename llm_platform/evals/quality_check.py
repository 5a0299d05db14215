"""The ``output_quality`` decision: a model's suite on the candidate and on production.

The asset check on ``staging_deployment`` only gathers its inputs (the suite at the run's
commit, the staging revision's URL through the gateway, production's revision) and records
what this module returns. Outcomes are typed (:data:`QualityStatus`); only ``pass`` and a
model without a suite where none is required pass the check. ``fail``, ``inconclusive`` and
``error`` (an endpoint down, an invalid suite) hold the candidate: the gate fails closed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel

from llm_platform.config.eval_suite import EvalSuite, suite_hash
from llm_platform.evals.baseline_cache import BaselineCache
from llm_platform.evals.runner import DEFAULT_TIMEOUT_S, EndpointUnreachable, SuiteRun, run_suite
from llm_platform.evals.template_drift import TemplateDrift
from llm_platform.evals.verdict import QualityVerdict, judge_quality

QualityStatus = Literal["pass", "fail", "inconclusive", "no_suite", "error"]
#: Requests in flight per endpoint during the check: one. The check is about answers, not
#: throughput; llama.cpp serves one request at a time and answers its health checks only
#: between requests (a queue of suite requests would take a healthy revision out of rotation),
#: and production keeps its capacity for real traffic.
CHECK_CONCURRENCY = 1
#: Pause before the cases that got no valid answer (a revision briefly out of rotation, a
#: timeout) are asked once more; what still fails stays unscored.
RETRY_PAUSE_S = 2.0
#: How :func:`evaluate_quality` runs a suite (``run_suite``'s signature; replaceable in tests
#: that count requests).
Runner = Callable[..., SuiteRun]


class BaselineTarget(BaseModel):
    """The production revision the candidate is compared with."""

    url: str
    digest: str
    engine: str
    revision: str
    version: str


class QualityOutcome(BaseModel):
    """What the check records: the status, a one-line reason and the evidence."""

    status: QualityStatus
    passed: bool
    reason: str
    suite_hash: str | None = None
    verdict: QualityVerdict | None = None
    candidate: SuiteRun | None = None
    baseline: SuiteRun | None = None
    baseline_target: BaselineTarget | None = None
    baseline_from_cache: bool = False
    template_drift: TemplateDrift | None = None


def no_suite(suite_file: str, *, required: bool, envs: str = "the environment") -> QualityOutcome:
    """The outcome for a model without a suite: passes unless ``required``."""
    if required:
        return QualityOutcome(
            status="no_suite",
            passed=False,
            reason=f"no suite: {suite_file} is missing and {envs} requires one "
            "(quality.required: true)",
        )
    return QualityOutcome(
        status="no_suite",
        passed=True,
        reason=f"no suite: {suite_file} does not exist, so output quality is not checked",
    )


def error(reason: str) -> QualityOutcome:
    """A failure to evaluate (suite invalid, endpoint down, ...): never a pass."""
    return QualityOutcome(status="error", passed=False, reason=reason)


def _run_once_more_for_errors(
    runner: Runner, url: str, *, model: str, suite: EvalSuite, timeout_s: float, concurrency: int
) -> SuiteRun:
    """``runner`` on ``url``; the cases without a valid answer are asked once more."""
    run = runner(url, model=model, suite=suite, timeout_s=timeout_s, concurrency=concurrency)
    missing = {r.id for r in run.results if r.passed is None}
    if not missing:
        return run
    time.sleep(RETRY_PAUSE_S)
    subset = suite.model_copy(update={"cases": [c for c in suite.cases if c.id in missing]})
    try:
        again = runner(url, model=model, suite=subset, timeout_s=timeout_s, concurrency=concurrency)
    except EndpointUnreachable:
        return run
    redo = {r.id: r for r in again.results}
    results = [redo.get(r.id, r) if r.passed is None else r for r in run.results]
    return run.model_copy(
        update={"results": results, "duration_s": run.duration_s + RETRY_PAUSE_S + again.duration_s}
    )


def _lost_ids(verdict: QualityVerdict, limit: int = 8) -> str:
    ids = [case.id for case in verdict.lost_cases]
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more


def evaluate_quality(
    *,
    model: str,
    suite: EvalSuite,
    candidate_url: str,
    baseline: BaselineTarget | None,
    cache: BaselineCache | None = None,
    candidate_build: tuple[str, str] | None = None,
    drift: TemplateDrift | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    concurrency: int = CHECK_CONCURRENCY,
    runner: Runner = run_suite,
) -> QualityOutcome:
    """Run ``suite`` on the candidate and (from the cache when it holds the run) on the
    baseline, and judge the pair; without a baseline the suite's ``min_score`` applies.

    Args:
        model: The model name sent in every request.
        candidate_url: The staging revision through the gateway (``<gateway>/<model>@<rev>``).
        baseline: Production's revision, or None when nothing is in production.
        cache: Baseline runs by (digest, engine, suite hash); None disables caching.
        candidate_build: The candidate's (digest, engine): its complete run is cached too, so
            once this build is in production it is not asked again (greedy answers of one
            build on one engine do not depend on the environment serving it).
        drift: The chat-template comparison, recorded and named in the reason when changed.

    Returns:
        The outcome; endpoint errors are outcomes (status ``error``), never exceptions.
    """
    held = QualityOutcome(
        status="error",
        passed=False,
        reason="",
        suite_hash=suite_hash(suite),
        baseline_target=baseline,
        template_drift=drift,
    )
    try:
        candidate = _run_once_more_for_errors(
            runner,
            candidate_url,
            model=model,
            suite=suite,
            timeout_s=timeout_s,
            concurrency=concurrency,
        )
    except EndpointUnreachable as exc:
        return held.model_copy(update={"reason": f"candidate unreachable: {exc}"})
    held = held.model_copy(update={"candidate": candidate})
    if cache is not None and candidate_build is not None:
        cache.put(candidate, digest=candidate_build[0], engine=candidate_build[1])
    base_run: SuiteRun | None = None
    if baseline is not None:
        key = {"model": model, "digest": baseline.digest, "engine": baseline.engine}
        base_run = cache.get(suite_hash=held.suite_hash or "", **key) if cache else None
        held = held.model_copy(update={"baseline_from_cache": base_run is not None})
        if base_run is None:
            try:
                base_run = _run_once_more_for_errors(
                    runner,
                    baseline.url,
                    model=model,
                    suite=suite,
                    timeout_s=timeout_s,
                    concurrency=concurrency,
                )
            except EndpointUnreachable as exc:
                why = (
                    f"baseline (production {baseline.version}, {baseline.revision}) "
                    f"unreachable, the candidate cannot be judged: {exc}"
                )
                return held.model_copy(update={"reason": why})
            if cache is not None:
                cache.put(base_run, digest=baseline.digest, engine=baseline.engine)
    verdict = judge_quality(candidate, base_run, suite.gate)
    against = (
        f"against production {baseline.version} ({baseline.digest[:12]})"
        if baseline
        else "without a baseline (nothing in production)"
    )
    reason = f"{verdict.verdict} {against}: {verdict.reason}"
    if verdict.lost_cases:
        reason += f"; lost: {_lost_ids(verdict)}"
    if drift is not None and drift.changed:
        reason += "; the chat template changed (see template_drift)"
    return held.model_copy(
        update={
            "status": verdict.verdict,
            "passed": verdict.verdict == "pass",
            "reason": reason,
            "verdict": verdict,
            "baseline": base_run,
        }
    )
