"""The paired tri-state quality verdict and its statistics (exact cases and properties)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_platform.config.eval_suite import QualityGate
from llm_platform.evals import CaseResult, SuiteRun, judge_quality
from llm_platform.evals.stats import one_sided_z, paired_difference_bounds, wilson_bounds

Z95 = one_sided_z(0.95)


def run(outcomes: list[bool | None], *, outputs: list[str] | None = None) -> SuiteRun:
    results = [
        CaseResult(
            id=f"case-{i}",
            kind="completion",
            passed=passed,
            output=(outputs[i] if outputs else ("right" if passed else "wrong")),
            error="HTTP 500" if passed is None else None,
        )
        for i, passed in enumerate(outcomes)
    ]
    return SuiteRun(
        results=results, model="m", url="http://x", suite_hash="sha256:0", duration_s=0.0,
        concurrency=4,
    )  # fmt: skip


def paired(kept: int, lost: int, gained: int, both_failed: int) -> tuple[SuiteRun, SuiteRun]:
    """Candidate and baseline runs with exactly these paired counts."""
    base = [True] * kept + [True] * lost + [False] * gained + [False] * both_failed
    cand = [True] * kept + [False] * lost + [True] * gained + [False] * both_failed
    return run(cand), run(base)


def test_wilson_matches_the_published_example() -> None:
    # Newcombe (1998a), single proportion 81/263: Wilson 95 % interval 0.2553 to 0.3662.
    lower, upper = wilson_bounds(81, 263, one_sided_z(0.975))
    assert lower == pytest.approx(0.2553, abs=5e-5) and upper == pytest.approx(0.3662, abs=5e-5)
    assert wilson_bounds(0, 10, Z95)[0] == 0.0 and wilson_bounds(10, 10, Z95)[1] == 1.0


def test_identical_runs_pass_once_enough_cases_show_it() -> None:
    gate = QualityGate(min_cases=10, max_regression=0.10)
    candidate, baseline = paired(40, 0, 0, 0)
    verdict = judge_quality(candidate, baseline, gate)
    assert verdict.verdict == "pass"
    assert (verdict.kept, verdict.lost, verdict.gained, verdict.scored) == (40, 0, 0, 40)
    assert verdict.upper == pytest.approx(Z95**2 / (40 + Z95**2))  # the exact bound at 0 discordant
    # With the default 5 % margin, 40 identical answers cannot rule out a 5 % loss (the
    # bound is 6.3 %): inconclusive, never a pass on too little evidence; 60 can.
    assert judge_quality(candidate, baseline, QualityGate()).verdict == "inconclusive"
    assert judge_quality(*paired(60, 0, 0, 0), QualityGate()).verdict == "pass"


def test_many_losses_fail_with_the_lost_answers() -> None:
    candidate, baseline = paired(25, 15, 0, 0)
    verdict = judge_quality(candidate, baseline, QualityGate())
    assert verdict.verdict == "fail"
    assert (verdict.kept, verdict.lost, verdict.gained, verdict.both_failed) == (25, 15, 0, 0)
    assert verdict.lower is not None and verdict.lower > 0.05
    assert [lost.id for lost in verdict.lost_cases] == [f"case-{i}" for i in range(25, 40)]
    assert verdict.lost_cases[0].candidate_output == "wrong"
    assert verdict.lost_cases[0].baseline_output == "right"
    assert verdict.candidate_score == pytest.approx(25 / 40) and verdict.baseline_score == 1.0


def test_answers_changing_both_ways_cancel() -> None:
    verdict = judge_quality(*paired(34, 3, 3, 0), QualityGate())
    assert verdict.verdict != "fail" and verdict.estimate == 0.0
    assert judge_quality(*paired(34, 3, 3, 0), QualityGate(max_regression=0.15)).verdict == "pass"


def test_too_few_cases_is_inconclusive_even_when_all_lost() -> None:
    verdict = judge_quality(*paired(0, 5, 0, 0), QualityGate())
    assert verdict.verdict == "inconclusive" and "fewer than min_cases 10" in verdict.reason


def test_unscorable_cases_are_left_out_of_the_pairs() -> None:
    candidate = run([True] * 12 + [None] * 3)
    baseline = run([True] * 10 + [None] * 2 + [True] * 3)
    verdict = judge_quality(candidate, baseline, QualityGate(min_cases=10, max_regression=0.5))
    assert (verdict.scored, verdict.unscored, verdict.kept) == (10, 5, 10)
    assert verdict.verdict == "pass"
    everything_failed = judge_quality(run([None] * 20), baseline, QualityGate())
    assert everything_failed.verdict == "inconclusive" and everything_failed.scored == 0


def test_without_baseline_the_floor_decides() -> None:
    gate = QualityGate(min_cases=10, min_score=0.8)
    assert judge_quality(run([True] * 40), None, gate).verdict == "pass"
    assert judge_quality(run([True] * 10 + [False] * 30), None, gate).verdict == "fail"
    assert judge_quality(run([True] * 33 + [False] * 7), None, gate).verdict == "inconclusive"
    assert judge_quality(run([True] * 9), None, gate).verdict == "inconclusive"
    floor = judge_quality(run([False] * 40), None, QualityGate())  # min_score 0: any rate passes
    assert floor.verdict == "pass" and floor.baseline_score is None and not floor.paired


counts = st.integers(min_value=0, max_value=60)


@given(counts, counts, counts, counts)
@settings(max_examples=300, deadline=None)
def test_bounds_contain_the_estimate_and_mirror(a: int, b: int, c: int, d: int) -> None:
    n = a + b + c + d
    lower, upper = paired_difference_bounds(a, b, c, d, Z95)
    assert -1.0 <= lower <= upper <= 1.0
    if n:
        assert lower <= (b - c) / n + 1e-12 and (b - c) / n - 1e-12 <= upper
    mirrored = paired_difference_bounds(a, c, b, d, Z95)
    assert mirrored == pytest.approx((-upper, -lower))


@given(counts, counts, counts, counts, st.sampled_from([0.0, 0.05, 0.1, 0.2]))
@settings(max_examples=300, deadline=None)
def test_verdict_properties(a: int, b: int, c: int, d: int, margin: float) -> None:
    gate = QualityGate(min_cases=10, max_regression=margin)
    verdict = judge_quality(*paired(a, b, c, d), gate)
    n = a + b + c + d
    if n < 10:
        assert verdict.verdict == "inconclusive"
    if verdict.verdict == "fail":
        assert verdict.estimate is not None and verdict.estimate > margin
        assert b > c  # a fail needs more losses than gains
    if verdict.verdict == "pass":
        assert verdict.estimate is not None and verdict.estimate < margin
    # Turning a loss into a gain never makes the verdict worse.
    if b > 0:
        better = judge_quality(*paired(a, b - 1, c + 1, d), gate)
        rank = {"fail": 0, "inconclusive": 1, "pass": 2}
        assert rank[better.verdict] >= rank[verdict.verdict]


def test_false_alarms_are_rare_when_the_candidate_is_as_good() -> None:
    """Simulated: a candidate exactly as good (answers flip both ways at 10 %) fails at most
    about 1 - confidence of the time; one truly 30 % worse fails nearly always."""
    rng = random.Random(19)
    gate = QualityGate(min_cases=10, max_regression=0.05)

    def fail_rate(p_lost: float, p_gained: float, trials: int = 400, n: int = 80) -> float:
        fails = 0
        for _ in range(trials):
            kept = lost = gained = both = 0
            for _ in range(n):
                u = rng.random()
                if u < p_lost:
                    lost += 1
                elif u < p_lost + p_gained:
                    gained += 1
                elif u < 0.9:
                    kept += 1
                else:
                    both += 1
            fails += judge_quality(*paired(kept, lost, gained, both), gate).verdict == "fail"
        return fails / trials

    assert fail_rate(0.05, 0.05) <= 0.05
    assert fail_rate(0.30, 0.0) >= 0.95


def test_lost_cases_table_escapes_and_limits() -> None:
    from llm_platform.evals.report import lost_cases_markdown, truncate

    outputs = [f"a|b `{i}`\nnext" for i in range(25)]
    candidate = run([False] * 25, outputs=outputs)
    baseline = run([True] * 25)
    verdict = judge_quality(candidate, baseline, QualityGate())
    table = lost_cases_markdown(verdict, limit=3)
    lines = table.splitlines()
    assert lines[:2] == ["| case | candidate | baseline |", "| --- | --- | --- |"]
    assert lines[2] == "| case-0 | a\\|b '0'\\nnext | right |"
    assert len([line for line in lines if line.startswith("| case-")]) == 3
    assert lines[-1] == "… and 22 more lost case(s)."
    assert lost_cases_markdown(judge_quality(baseline, baseline, QualityGate())) == (
        "No case regressed."
    )
    assert truncate("x" * 100, 10) == "x" * 9 + "…"
