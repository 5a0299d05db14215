"""Output-quality gate: suites of prompts with expected answers, a runner, guards and a paired
verdict (candidate vs baseline). No dagster here; the asset check calls into this package."""

from llm_platform.evals.guards import Guard, guard_failures
from llm_platform.evals.runner import (
    CaseResult,
    EndpointUnreachable,
    SuiteRun,
    arun_suite,
    run_suite,
)
from llm_platform.evals.verdict import LostCase, QualityVerdict, judge_quality

__all__ = [
    "CaseResult",
    "EndpointUnreachable",
    "Guard",
    "LostCase",
    "QualityVerdict",
    "SuiteRun",
    "arun_suite",
    "guard_failures",
    "judge_quality",
    "run_suite",
]
