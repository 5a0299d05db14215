"""The channel-neutral message: built once from a ledger event or a failed run, content only
(no channel's markup), rendered by each channel its own way."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from llm_platform.promotion import LedgerEvent
from llm_platform.reporting.announcements import build_message
from llm_platform.reporting.channels.slack import render_blocks
from llm_platform.reporting.failure_alerts import RunFailure, failure_message
from llm_platform.reporting.message import Detail, Message, MessageField, code, link, plain
from llm_platform.reporting.stages import RUN, Stage

SHA = "c0ffee" + "1" * 34
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def event(kind: str = "promoted", **kw: Any) -> LedgerEvent:
    data: dict[str, Any] = dict(
        kind=kind, model="llama", env="production", version="1.2.0", digest="ab" * 32, time=WHEN
    )
    data.update(kw)
    return LedgerEvent.model_validate(data)


def spans_text(message: Message) -> str:
    return " ".join(span.text for f in message.fields for span in f.value)


def test_text_is_the_icon_then_the_title() -> None:
    message = Message(kind="promoted", severity="success", icon="rocket", title="llama promoted")
    assert message.text == ":rocket: llama promoted"
    with pytest.raises(ValidationError):
        message.title = "changed"  # type: ignore[misc]


def test_event_message_carries_content_not_markup() -> None:
    message = build_message(
        event(commit_sha=SHA, approver="alice", run_id="run-12345678", actor="bob"),
        run_url="http://ui/runs/run-12345678",
    )
    assert (message.kind, message.severity, message.icon) == ("promoted", "success", "rocket")
    assert message.title == (
        f"llama 1.2.0 (abababababab) promoted to production (commit {SHA[:12]})"
    )
    assert [f.label for f in message.fields] == [
        "Model",
        "Environment",
        "Version",
        "Digest",
        "Commit",
        "Approver",
        "Run",
    ]
    digest, commit, run = message.fields[3], message.fields[4], message.fields[6]
    assert digest.value == (code("abababababab"),) and commit.value == (code(SHA[:12]),)
    assert run.value == (link("http://ui/runs/run-12345678", "run-1234"),)
    assert not any(mark in spans_text(message) for mark in ("*", "`", "<", "|"))
    assert message.commit_sha == SHA
    assert [(x.label, x.url) for x in message.links] == [("Run", "http://ui/runs/run-12345678")]
    assert message.footer == "promoted by bob at 2026-01-02 03:04:05 UTC"


def test_evidence_becomes_details_cut_to_a_readable_size() -> None:
    evidence: dict[str, Any] = {"slo": "pass", "objectives": [1, 2, 3], "gate": {"a": 1}}
    evidence |= {f"k{i}": "x" * 500 for i in range(7)}
    message = build_message(event(evidence=evidence))
    assert message.details[:3] == (
        Detail(key="slo", value="pass"),
        Detail(key="objectives", value="list of 3"),
        Detail(key="gate", value="dict of 1"),
    )
    assert len(message.details) == 8 and message.omitted_details == 2
    assert all(len(d.value) <= 200 for d in message.details)


def test_staging_result_reads_as_passed_or_failed() -> None:
    passed = build_message(event("deployed", env="staging", evidence={"passed": True}))
    failed = build_message(event("deployed", env="staging", evidence={"passed": False}))
    assert (passed.icon, passed.severity) == ("white_check_mark", "success")
    assert (failed.icon, failed.severity) == ("warning", "error")
    assert "failed staging in staging" in failed.title


def test_failure_message_has_the_reason_as_body_and_the_run_as_link() -> None:
    failure = RunFailure(
        run_id="0123456789abcdef",
        job="model_job",
        model="llama",
        stage="staging",
        step="staging_deployment",
        commit_sha=SHA,
        reason="never became ready\nlast log line",
        run_url="http://ui/runs/0123456789abcdef",
    )
    message = failure_message(failure)
    assert failure.stage is Stage.staging and failure.environment == "staging"
    assert message.body == failure.reason and message.commit_sha == SHA
    assert message.fields[1] == MessageField(
        label="Stage", value=(plain("staging"), plain(" ("), code("staging_deployment"), plain(")"))
    )
    assert [x.url for x in message.links] == [failure.run_url]
    crashed = RunFailure(run_id="r" * 16, job="production_job", reason="lost", run_url="u")
    assert crashed.stage == RUN and crashed.environment is None


def test_slack_renders_spans_as_mrkdwn_and_the_body_as_a_code_block() -> None:
    message = Message(
        kind="run_failed",
        severity="error",
        icon="rotating_light",
        title="t",
        fields=(MessageField(label="Run", value=(link("http://u", "r1"), plain(" ("), code("s"))),),
        body="b" * 5000,
    )
    blocks = render_blocks(message)
    assert blocks[0]["text"]["text"] == ":rotating_light: t"
    assert blocks[1]["fields"] == [{"type": "mrkdwn", "text": "*Run*\n<http://u|r1> (`s`"}]
    body = blocks[2]["text"]["text"]
    assert body.startswith("```b") and body.endswith("b```") and len(body) == 2900


def test_every_stage_says_its_environment() -> None:
    assert [s.environment for s in Stage] == [None, None, "staging", "production"]
    assert json.dumps([*Stage]) == '["config", "registration", "staging", "production"]'
