"""Messages about failed runs: what failed, where in the pipeline, for which commit, and a link.

The Dagster glue (``sensors/run_failure.py``) fills a :class:`RunFailure` from the failed run's
tags and failure events; everything the message says is decided here, as a channel-neutral
:class:`~llm_platform.reporting.message.Message`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict

from llm_platform.reporting.message import Link, Message, MessageField, Span, code, link, plain
from llm_platform.reporting.stages import RUN
from llm_platform.reporting.stages import Stage as PipelineStage

if TYPE_CHECKING:
    Stage: TypeAlias = PipelineStage | Literal["run"]
else:
    #: Where a run failed: one of the pipeline's stages, or ``run`` for a failure outside any
    #: stage (built from the stages, so it never lists them a second time).
    Stage = Literal[(*PipelineStage, RUN)]

#: Which environment's webhook hears about a failure in each stage (None: the global one).
STAGE_ENVIRONMENT: dict[str, str | None] = {
    **{stage: stage.environment for stage in PipelineStage},
    RUN: None,
}
_MAX_REASON = 1500
_MAX_FIRST_LINE = 300


def run_url(base_url: str, run_id: str) -> str:
    """The Dagster UI page of a run (``<base>/runs/<id>``)."""
    return f"{base_url.rstrip('/')}/runs/{run_id}"


class RunFailure(BaseModel):
    """One failed run, as the message tells it.

    Attributes:
        run_id: The Dagster run.
        job: Its job.
        model: The model (partition) it worked on, if any.
        stage: Where it failed (``run``: outside any stage, e.g. the run worker crashed).
        step: The failing step, if one failed.
        commit_sha: The models-repo commit the run worked on, if known.
        author: That commit's author, if known.
        reason: Why (the failure's description or error, first lines).
        run_url: The run's page in the Dagster UI.
    """

    model_config = ConfigDict(frozen=True)

    run_id: str
    job: str
    model: str | None = None
    stage: Stage = RUN
    step: str | None = None
    commit_sha: str | None = None
    author: str | None = None
    reason: str
    run_url: str

    @property
    def environment(self) -> str | None:
        """The environment whose webhook hears about it (None: the global webhook)."""
        return STAGE_ENVIRONMENT[self.stage]


def short_reason(text: str, limit: int = _MAX_REASON) -> str:
    """``text`` stripped and cut to ``limit`` characters (an ellipsis marks the cut)."""
    text = text.strip() or "no reason recorded"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def failure_message(failure: RunFailure) -> Message:
    """The message for a failed run."""
    what = failure.model or failure.job
    where = f"at {failure.stage}" if failure.stage != RUN else f"({failure.job})"
    commit = f" on {failure.commit_sha[:12]}" if failure.commit_sha else ""
    author = f" by {failure.author}" if failure.author else ""
    first_line = failure.reason.strip().splitlines()[0] if failure.reason.strip() else ""
    stage: tuple[Span, ...] = (plain(str(failure.stage)),)
    if failure.step:
        stage += (plain(" ("), code(failure.step), plain(")"))
    fields = (
        MessageField(label="Model", value=(plain(failure.model or "-"),)),
        MessageField(label="Stage", value=stage),
        MessageField(
            label="Commit",
            value=(code(failure.commit_sha[:12]) if failure.commit_sha else plain("-"),),
        ),
        MessageField(label="Author", value=(plain(failure.author or "-"),)),
        MessageField(
            label="Run",
            value=(link(failure.run_url, failure.run_id[:8]), plain(f" ({failure.job})")),
        ),
    )
    return Message(
        kind="run_failed",
        severity="error",
        icon="rotating_light",
        title=f"{what} failed {where}{commit}{author}: {first_line[:_MAX_FIRST_LINE]}",
        fields=fields,
        body=failure.reason,
        commit_sha=failure.commit_sha,
        links=(Link(label="Run", url=failure.run_url),),
    )
