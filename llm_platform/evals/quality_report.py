"""What the ``output_quality`` check records: numbers the UI plots, and Markdown tables.

Plain data (no Dagster): the asset wraps the Markdown strings as Markdown metadata.
"""

from __future__ import annotations

from llm_platform.evals.quality_check import QualityOutcome
from llm_platform.evals.runner import CaseResult

#: Characters of an answer shown in a table cell.
CELL_CHARS = 120
#: Rows of the per-case table (a suite may be long; the numbers cover all of it).
MAX_CASE_ROWS = 100


def cell(text: str | None, limit: int = CELL_CHARS) -> str:
    """``text`` as one Markdown table cell: pipes escaped, newlines shown as ``⏎``, cut."""
    if text is None:
        return "–"
    flat = text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "⏎")
    flat = flat.replace("`", "'")
    return f"`{flat[:limit]}`" + ("…" if len(flat) > limit else "")


def _state(result: CaseResult | None) -> str:
    if result is None:
        return "–"
    if result.passed is None:
        return "error"
    return "pass" if result.passed else "FAIL"


def numeric_metadata(outcome: QualityOutcome) -> dict[str, float | int | bool]:
    """Counts, scores and bounds (only those that exist for this outcome)."""
    meta: dict[str, float | int | bool] = {}
    verdict = outcome.verdict
    if verdict is not None:
        meta.update(
            {
                "scored": verdict.scored,
                "unscored": verdict.unscored,
                "kept": verdict.kept,
                "lost": verdict.lost,
                "gained": verdict.gained,
                "both_failed": verdict.both_failed,
            }
        )
        optional = {
            "candidate_score": verdict.candidate_score,
            "baseline_score": verdict.baseline_score,
            "estimate": verdict.estimate,
            "lower_bound": verdict.lower,
            "upper_bound": verdict.upper,
        }
        meta.update({k: round(v, 4) for k, v in optional.items() if v is not None})
        meta["max_regression"] = verdict.gate.max_regression
    if outcome.candidate is not None:
        meta["case_count"] = len(outcome.candidate.results)
        meta["candidate_passed"] = outcome.candidate.passed
        meta["candidate_seconds"] = round(outcome.candidate.duration_s, 3)
    if outcome.baseline_target is not None:
        meta["baseline_cached"] = outcome.baseline_from_cache
    if outcome.baseline is not None:
        meta["baseline_passed"] = outcome.baseline.passed
        if not outcome.baseline_from_cache:
            meta["baseline_seconds"] = round(outcome.baseline.duration_s, 3)
    if outcome.template_drift is not None:
        meta["template_changed"] = outcome.template_drift.changed
    return meta


def text_metadata(outcome: QualityOutcome) -> dict[str, str]:
    """Status, suite hash, the baseline's identity and both chat templates' sha256."""
    meta: dict[str, str] = {"status": outcome.status}
    if outcome.suite_hash:
        meta["suite_hash"] = outcome.suite_hash
    target = outcome.baseline_target
    if target is not None:
        meta.update(
            baseline_version=target.version,
            baseline_digest=target.digest,
            baseline_revision=target.revision,
            baseline_engine=target.engine,
        )
    drift = outcome.template_drift
    if drift is not None:
        meta["candidate_template_sha256"] = drift.candidate_sha256 or "none"
        meta["production_template_sha256"] = drift.production_sha256 or "none"
    return meta


def lost_cases_markdown(outcome: QualityOutcome) -> str | None:
    """The cases that regressed (baseline passed, candidate failed) with both answers."""
    verdict = outcome.verdict
    if verdict is None or not verdict.lost_cases:
        return None
    rows = "\n".join(
        f"| {case.id} | {cell(case.candidate_output)} | {cell(case.baseline_output)} | "
        f"{', '.join(case.guard_failures) or '–'} |"
        for case in verdict.lost_cases
    )
    head = "| case | candidate answered | production answered | guards failed |\n|---|---|---|---|"
    return f"{head}\n{rows}"


def cases_markdown(outcome: QualityOutcome) -> str | None:
    """Every case: expectation kind, result on each side and the candidate's answer."""
    if outcome.candidate is None:
        return None
    theirs = {r.id: r for r in outcome.baseline.results} if outcome.baseline else {}
    lines = [
        "| case | expect | candidate | production | candidate answered |",
        "|---|---|---|---|---|",
    ]
    for result in outcome.candidate.results[:MAX_CASE_ROWS]:
        answer = result.error if result.passed is None else result.output
        lines.append(
            f"| {result.id} | {result.expect} | {_state(result)} | "
            f"{_state(theirs.get(result.id))} | {cell(answer)} |"
        )
    hidden = len(outcome.candidate.results) - MAX_CASE_ROWS
    if hidden > 0:
        lines.append(f"\n{hidden} more cases not shown")
    return "\n".join(lines)
