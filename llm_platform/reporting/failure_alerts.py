"""Messages about failed runs: what failed, where in the pipeline, for which commit, and a link.

The Dagster glue (``sensors/run_failure.py``) fills a :class:`RunFailure` from the failed run's
tags and failure events; everything the message says is decided here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from llm_platform.reporting.commit_status import Stage as PipelineStage
from llm_platform.reporting.notify import Notification

#: Where a run failed: one of the pipeline's stages (the words the UI and the commit statuses
#: use), or ``run`` for a failure outside any stage.
Stage = Literal["config", "registration", "staging", "production", "run"]
#: Which environment's webhook hears about a failure in each stage (None: the global one).
STAGE_ENVIRONMENT: dict[str, str | None] = {
    PipelineStage.config: None,
    PipelineStage.registration: None,
    PipelineStage.staging: "staging",
    PipelineStage.production: "production",
    "run": None,
}
_MAX_REASON = 1500
_MAX_BLOCK_TEXT = 2900


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
    stage: Stage = "run"
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


def failure_message(failure: RunFailure) -> Notification:
    """The Slack message (and log line) for a failed run."""
    what = failure.model or failure.job
    where = f"at {failure.stage}" if failure.stage != "run" else f"({failure.job})"
    commit = f" on {failure.commit_sha[:12]}" if failure.commit_sha else ""
    author = f" by {failure.author}" if failure.author else ""
    first_line = failure.reason.strip().splitlines()[0] if failure.reason.strip() else ""
    text = f":rotating_light: {what} failed {where}{commit}{author}: {first_line[:300]}"
    fields = [
        f"*Model*\n{failure.model or '-'}",
        f"*Stage*\n{failure.stage}" + (f" (`{failure.step}`)" if failure.step else ""),
        f"*Commit*\n`{failure.commit_sha[:12]}`" if failure.commit_sha else "*Commit*\n-",
        f"*Author*\n{failure.author or '-'}",
        f"*Run*\n<{failure.run_url}|{failure.run_id[:8]}> ({failure.job})",
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text[:_MAX_BLOCK_TEXT]}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"```{failure.reason[: _MAX_BLOCK_TEXT - 6]}```"},
        },
    ]
    return Notification(kind="run_failed", severity="error", text=text, blocks=blocks)
