"""What each stage reports to the models-repo commit it processed (GitHub commit statuses).

Every stage of a model's journey — ``config``, ``registration``, ``staging``, ``production`` —
reports one status per model under the context ``llm-platform/<stage>/<model>``: ``pending``
while it works, then ``success``, ``failure`` (the commit's change was judged and refused:
invalid config, unsafe artifact, failed tests, a held gate, a rollback) or ``error`` (the stage
could not judge: an outage, a crash). Descriptions are one line built from the outcome's data
(verdicts, reports, gate decisions), never from message text.

Those outcomes are defined above reporting (``endpoint_tests``, ``slo``, ``promotion``); this
module reads them through the protocols of :mod:`llm_platform.reporting.outcomes`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from llm_platform.config.problems import Problem
from llm_platform.reporting.outcomes import (
    EndpointSuiteOutcome,
    GateOutcome,
    RolloutOutcome,
    SLOOutcome,
)
from llm_platform.reporting.stages import Stage

#: GitHub's limit for a status description.
MAX_DESCRIPTION = 140
CONTEXT_PREFIX = "llm-platform"

State = Literal["pending", "success", "failure", "error"]


#: What a stage says while it works.
_PENDING = {
    Stage.config: "validating model.yaml",
    Stage.registration: "registering and scanning the artifact",
    Stage.staging: "deploying to staging and testing",
    Stage.production: "promoting to production",
}


def one_line(text: str, limit: int = MAX_DESCRIPTION) -> str:
    """``text`` on one line (whitespace runs collapsed), cut to ``limit`` characters with ``…``."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


class CommitStatus(BaseModel):
    """One status for one model at one stage (the commit and run link are added when posted)."""

    model_config = ConfigDict(frozen=True)

    stage: Stage
    model: str
    state: State
    description: str = Field(max_length=MAX_DESCRIPTION)

    @property
    def context(self) -> str:
        """The status context: ``llm-platform/<stage>/<model>``."""
        return status_context(self.stage, self.model)


def status_context(stage: Stage, model: str) -> str:
    """``llm-platform/<stage>/<model>``: one status line per stage and model on the commit."""
    return f"{CONTEXT_PREFIX}/{stage.value}/{model}"


def _status(stage: Stage, model: str, state: State, description: str) -> CommitStatus:
    return CommitStatus(stage=stage, model=model, state=state, description=one_line(description))


def pending(stage: Stage, model: str) -> CommitStatus:
    """The stage has started on this commit."""
    return _status(stage, model, "pending", _PENDING[stage])


def stage_error(stage: Stage, model: str, error: BaseException) -> CommitStatus:
    """The stage stopped without a verdict (``error``): the exception's type and first line."""
    lines = str(error).strip().splitlines()
    return _status(stage, model, "error", f"error: {lines[0] if lines else type(error).__name__}")


# --- config ---------------------------------------------------------------------------------------


def config_valid(model: str, *, version: str) -> CommitStatus:
    """``model.yaml`` passed the schema and the rules."""
    return _status(Stage.config, model, "success", f"valid: {model} {version}")


def config_invalid(model: str, problems: Sequence[Problem]) -> CommitStatus:
    """``model.yaml`` is invalid: how many problems, and the first one (field and line)."""
    first = problems[0]
    where = f"line {first.line}: " if first.line is not None else ""
    field = f"{first.field}: " if first.field else ""
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    return _status(Stage.config, model, "failure", f"invalid: {where}{field}{first.message}{more}")


# --- registration ---------------------------------------------------------------------------------


def registered(model: str, *, version: str, digest: str, files: int) -> CommitStatus:
    """The artifact was scanned clean and stored content-addressed."""
    return _status(
        Stage.registration,
        model,
        "success",
        f"registered {version} sha256:{digest[:12]} ({files} files, scan clean)",
    )


def secrets_found(model: str, blocking: int, files: int) -> CommitStatus:
    """The repository scan found leaked secrets in the model's files (counts, never values)."""
    return _status(
        Stage.registration,
        model,
        "failure",
        f"leaked secrets: {blocking} finding(s) in {files} file(s) of the model; not registered",
    )


def artifact_unsafe(model: str, summary: Mapping[str, object]) -> CommitStatus:
    """The security scan refused the artifact (counts from the scan report's summary)."""
    counts = ", ".join(
        f"{summary[key]} {key}"
        for key in ("critical", "high", "medium")
        if isinstance(summary.get(key), int) and summary[key]
    )
    unsafe = summary.get("unsafe", 0)
    errors = summary.get("errors", 0)
    return _status(
        Stage.registration,
        model,
        "failure",
        f"unsafe artifact: {unsafe} unsafe file(s), {errors} unreadable; findings: {counts or 0}",
    )


# --- staging --------------------------------------------------------------------------------------


def integration_result(model: str, report: EndpointSuiteOutcome) -> CommitStatus:
    """After the integration suite: failed tests end the stage; passing ones wait for SLOs."""
    failed = [test for test in report.tests if not test.passed]
    if failed:
        first = failed[0]
        return _status(
            Stage.staging,
            model,
            "failure",
            f"integration tests failed ({len(failed)}/{len(report.tests)}): "
            f"{first.name}: {first.detail}",
        )
    return _status(
        Stage.staging,
        model,
        "pending",
        f"integration tests passed ({len(report.tests)}/{len(report.tests)}); SLO checks next",
    )


def slo_result(model: str, verdict: SLOOutcome) -> CommitStatus:
    """The staging SLO verdict: any objective failing or inconclusive holds promotion."""
    held = [r for r in verdict.objectives if r.verdict != "pass"]
    if not held:
        return _status(
            Stage.staging,
            model,
            "success",
            f"passed: {len(verdict.objectives)} SLO objective(s) met over {_window(verdict)}",
        )
    held.sort(key=lambda r: r.verdict != "fail")  # failures first, then inconclusive
    lines = "; ".join(r.summary for r in held)
    return _status(Stage.staging, model, "failure", f"held: {lines}")


def _window(verdict: SLOOutcome) -> str:
    windows = sorted({r.window for r in verdict.objectives})
    return ", ".join(windows) or "the window"


def slo_unavailable(model: str, error: BaseException) -> CommitStatus:
    """Prometheus could not be asked: no verdict, the gate stays closed (``error``)."""
    return _status(Stage.staging, model, "error", f"held: SLOs not evaluated: {error}")


# --- production -----------------------------------------------------------------------------------


def promotion_refused(model: str, decision: GateOutcome) -> CommitStatus:
    """The promotion gate refused (each failed condition by name)."""
    failed = "; ".join(f"{i.name}: {i.reason}" for i in decision.items if not i.ok)
    return _status(Stage.production, model, "failure", f"refused: {failed}")


def rollout_result(model: str, result: RolloutOutcome) -> CommitStatus:
    """The rollout's outcome: promoted (``success``), or not (``failure``): held as a canary
    (a human decides) or rolled back."""
    if result.outcome == "promoted":
        return _status(
            Stage.production,
            model,
            "success",
            f"promoted ({result.strategy}): revision {result.new_revision}",
        )
    if result.outcome == "held":
        return _status(Stage.production, model, "failure", f"held: {result.reason}")
    return _status(
        Stage.production, model, "failure", f"rolled back ({result.strategy}): {result.reason}"
    )
