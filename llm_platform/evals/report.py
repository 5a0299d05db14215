"""Renderings of an output-quality verdict: the JSON document of ``llm-platform eval`` and a
Markdown table of lost cases (for check metadata and notifications)."""

from __future__ import annotations

from typing import Any

from llm_platform.evals.runner import CaseResult, SuiteRun
from llm_platform.evals.verdict import QualityVerdict

#: Answers longer than this are cut (with an ellipsis) in tables and text output.
ANSWER_CHARS = 80


def truncate(text: str, limit: int = ANSWER_CHARS) -> str:
    """``text`` on one line (newlines shown as ``\\n``), cut to ``limit`` characters."""
    flat = text.replace("\r", "\\r").replace("\n", "\\n")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _case(result: CaseResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    return {
        "passed": result.passed,
        "output": result.output,
        "guard_failures": list(result.guard_failures),
        "error": result.error,
        "latency_s": round(result.latency_s, 4),
    }


def verdict_payload(
    verdict: QualityVerdict,
    candidate: SuiteRun,
    baseline: SuiteRun | None,
    *,
    suite: str | None = None,
) -> dict[str, Any]:
    """The JSON document of ``llm-platform eval --format json``.

    Keys: ``verdict``, ``reason``, ``model``, ``url``, ``baseline_url``, ``suite``,
    ``suite_hash``, ``counts`` (scored, unscored, kept, lost, gained, both_failed), ``scores``
    (candidate, baseline, estimate, lower, upper), ``gate``, ``lost_cases`` and ``cases`` (one
    entry per case: id, kind, expect, candidate and baseline results).
    """
    theirs = {result.id: result for result in baseline.results} if baseline else {}
    return {
        "verdict": verdict.verdict,
        "reason": verdict.reason,
        "model": candidate.model,
        "url": candidate.url,
        "baseline_url": baseline.url if baseline else None,
        "suite": suite,
        "suite_hash": candidate.suite_hash,
        "counts": {
            "scored": verdict.scored,
            "unscored": verdict.unscored,
            "kept": verdict.kept,
            "lost": verdict.lost,
            "gained": verdict.gained,
            "both_failed": verdict.both_failed,
        },
        "scores": {
            "candidate": verdict.candidate_score,
            "baseline": verdict.baseline_score,
            "estimate": verdict.estimate,
            "lower": verdict.lower,
            "upper": verdict.upper,
        },
        "gate": verdict.gate.model_dump(),
        "duration_s": {
            "candidate": round(candidate.duration_s, 3),
            "baseline": round(baseline.duration_s, 3) if baseline else None,
        },
        "lost_cases": [lost.model_dump() for lost in verdict.lost_cases],
        "cases": [
            {
                "id": result.id,
                "kind": result.kind,
                "expect": result.expect,
                "candidate": _case(result),
                "baseline": _case(theirs.get(result.id)),
            }
            for result in candidate.results
        ],
    }


def _cell(text: str, limit: int) -> str:
    return truncate(text, limit).replace("|", "\\|").replace("`", "'")


def lost_cases_markdown(verdict: QualityVerdict, *, limit: int = 20, chars: int = 60) -> str:
    """A Markdown table of the lost cases (id, candidate's answer, baseline's answer).

    At most ``limit`` rows; a last line says how many more there are.
    """
    if not verdict.lost_cases:
        return "No case regressed."
    rows = ["| case | candidate | baseline |", "| --- | --- | --- |"]
    for lost in verdict.lost_cases[:limit]:
        answer = _cell(lost.candidate_output, chars)
        if lost.guard_failures:
            answer += f" ({', '.join(lost.guard_failures)})"
        baseline = _cell(lost.baseline_output, chars)
        rows.append(f"| {_cell(lost.id, chars)} | {answer} | {baseline} |")
    more = len(verdict.lost_cases) - limit
    if more > 0:
        rows.append(f"\n… and {more} more lost case(s).")
    return "\n".join(rows)
