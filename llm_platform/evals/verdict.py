"""The output-quality verdict: paired non-inferiority against a baseline, or an absolute floor.

With a baseline, only cases scored on both sides count. Their outcomes form a paired table
(kept: both passed, lost: only the baseline passed, gained: only the candidate passed,
both_failed). The loss ``baseline rate - candidate rate = (lost - gained) / n`` is bounded with
Newcombe's paired interval, one-sided at ``confidence`` for each bound:

* fail when the lower bound of the loss exceeds ``max_regression`` (shown to be worse);
* pass when the upper bound is below ``max_regression`` (shown to be non-inferior);
* inconclusive otherwise, and whenever fewer than ``min_cases`` cases were scored.

Answers that change both ways cancel (three lost and three gained is no loss); many losses
with few gains is a regression. Without a baseline the candidate's pass rate is held against
``min_score`` with Wilson bounds the same way.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from llm_platform.config.eval_suite import QualityGate
from llm_platform.evals.runner import CaseResult, SuiteRun
from llm_platform.evals.stats import one_sided_z, paired_difference_bounds, wilson_bounds

Verdict = Literal["pass", "fail", "inconclusive"]


class LostCase(BaseModel):
    """A case the baseline passed and the candidate failed, with both answers."""

    id: str
    candidate_output: str
    baseline_output: str
    guard_failures: list[str] = Field(default_factory=list)


class QualityVerdict(BaseModel):
    """The verdict of one suite run (paired when a baseline ran too) and what it rests on.

    ``estimate``/``lower``/``upper``: with a baseline, the pass-rate loss (baseline minus
    candidate) and its bounds; without one, the candidate's pass rate and its bounds.
    ``baseline_score`` is None without a baseline; scores are pass rates over scored cases.
    """

    verdict: Verdict
    reason: str
    paired: bool
    scored: int
    unscored: int
    kept: int
    lost: int
    gained: int
    both_failed: int
    candidate_score: float | None
    baseline_score: float | None
    estimate: float | None
    lower: float | None
    upper: float | None
    gate: QualityGate
    lost_cases: list[LostCase] = Field(default_factory=list)


def judge_quality(
    candidate: SuiteRun, baseline: SuiteRun | None, gate: QualityGate
) -> QualityVerdict:
    """Judge ``candidate`` (against ``baseline`` when given) under ``gate``.

    Cases are matched by id; a case unscorable on either side (request error) is left out.
    """
    if baseline is None:
        return _absolute(candidate, gate)
    return _paired(candidate, baseline, gate)


def _paired(candidate: SuiteRun, baseline: SuiteRun, gate: QualityGate) -> QualityVerdict:
    theirs = {result.id: result for result in baseline.results}
    pairs: list[tuple[CaseResult, CaseResult]] = []
    for mine in candidate.results:
        other = theirs.get(mine.id)
        if other is not None and mine.passed is not None and other.passed is not None:
            pairs.append((mine, other))
    unscored = len(candidate.results) - len(pairs)
    kept = sum(1 for c, b in pairs if c.passed and b.passed)
    lost_pairs = [(c, b) for c, b in pairs if b.passed and not c.passed]
    gained = sum(1 for c, b in pairs if c.passed and not b.passed)
    both_failed = sum(1 for c, b in pairs if not c.passed and not b.passed)
    lost = len(lost_pairs)
    n = len(pairs)
    lost_cases = [
        LostCase(
            id=c.id,
            candidate_output=c.output,
            baseline_output=b.output,
            guard_failures=list(c.guard_failures),
        )
        for c, b in lost_pairs
    ]
    if n == 0:
        return QualityVerdict(
            verdict="inconclusive",
            reason=f"no case could be scored on both sides ({unscored} unscorable)",
            paired=True,
            scored=0,
            unscored=unscored,
            candidate_score=None,
            baseline_score=None,
            estimate=None,
            lower=None,
            upper=None,
            kept=kept,
            lost=lost,
            gained=gained,
            both_failed=both_failed,
            gate=gate,
            lost_cases=lost_cases,
        )
    z = one_sided_z(gate.confidence)
    lower, upper = paired_difference_bounds(kept, lost, gained, both_failed, z)
    estimate = (lost - gained) / n
    margin = gate.max_regression
    summary = f"{kept} kept, {lost} lost, {gained} gained, {both_failed} failed on both"
    loss = f"pass-rate loss {estimate:+.1%}, bounds [{lower:+.1%}, {upper:+.1%}]"
    verdict: Verdict
    if n < gate.min_cases:
        verdict = "inconclusive"
        reason = f"only {n} case(s) scored on both sides, fewer than min_cases {gate.min_cases}"
    elif lower > margin:
        verdict = "fail"
        reason = f"regressed: {loss} at {gate.confidence:.0%}, beyond the {margin:.1%} allowed"
    elif upper < margin:
        verdict = "pass"
        reason = f"non-inferior: {loss} at {gate.confidence:.0%}, within the {margin:.1%} allowed"
    else:
        verdict = "inconclusive"
        reason = (
            f"cannot tell: {loss} at {gate.confidence:.0%} straddles the {margin:.1%} allowed "
            "(more cases narrow the bounds)"
        )
    return QualityVerdict(
        verdict=verdict,
        reason=f"{reason}; {summary}",
        paired=True,
        scored=n,
        unscored=unscored,
        candidate_score=(kept + gained) / n,
        baseline_score=(kept + lost) / n,
        estimate=estimate,
        lower=lower,
        upper=upper,
        kept=kept,
        lost=lost,
        gained=gained,
        both_failed=both_failed,
        gate=gate,
        lost_cases=lost_cases,
    )


def _absolute(candidate: SuiteRun, gate: QualityGate) -> QualityVerdict:
    scored = [result for result in candidate.results if result.passed is not None]
    n = len(scored)
    passed = sum(1 for result in scored if result.passed)
    unscored = len(candidate.results) - n
    z = one_sided_z(gate.confidence)
    lower, upper = wilson_bounds(passed, n, z) if n else (0.0, 1.0)
    floor = gate.min_score
    verdict: Verdict
    if n < gate.min_cases:
        verdict = "inconclusive"
        reason = f"only {n} case(s) scored, fewer than min_cases {gate.min_cases}"
    elif lower >= floor:
        verdict = "pass"
        reason = f"pass rate {passed}/{n}, lower bound {lower:.1%} >= min_score {floor:.1%}"
    elif upper < floor:
        verdict = "fail"
        reason = f"pass rate {passed}/{n}, upper bound {upper:.1%} < min_score {floor:.1%}"
    else:
        verdict = "inconclusive"
        reason = (
            f"pass rate {passed}/{n}: bounds [{lower:.1%}, {upper:.1%}] straddle "
            f"min_score {floor:.1%}"
        )
    return QualityVerdict(
        verdict=verdict,
        reason=f"{reason} (confidence {gate.confidence:.0%}, no baseline)",
        paired=False,
        scored=n,
        unscored=unscored,
        kept=0,
        lost=0,
        gained=0,
        both_failed=0,
        candidate_score=passed / n if n else None,
        baseline_score=None,
        estimate=passed / n if n else None,
        lower=lower if n else None,
        upper=upper if n else None,
        gate=gate,
    )
