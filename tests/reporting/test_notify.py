"""Notifications: messages per ledger event, Slack against a real local webhook server, secrecy.

No ``from __future__ import annotations``: dagster reads the asset's parameter annotations.
"""

import json
import logging
from typing import Any

import dagster as dg
import pytest

from llm_platform.promotion import LedgerEvent
from llm_platform.reporting.announcements import build_message
from llm_platform.reporting.channels.base import NotificationError
from llm_platform.reporting.channels.log import LogNotifier
from llm_platform.reporting.channels.slack import SlackNotifier, render_blocks
from resources.notifier import NotifierResource
from tests.helpers.loopback_http import closed_port_url
from tests.helpers.webhook_fixtures import SlackServer

HOOK = "notify"
SECRET_PATH = SlackServer.secret_path(HOOK)
SECRET_TOKEN = SECRET_PATH.rsplit("/", 1)[-1]
DIGEST = "ab" * 32


def event(kind: str, **kw: Any) -> LedgerEvent:
    data: dict[str, Any] = dict(
        kind=kind, model="llama", env="production", version="1.2.0", digest=DIGEST
    )
    data.update(kw)
    return LedgerEvent.model_validate(data)


def _assert_secret_absent(*texts: str) -> None:
    for text in texts:
        assert SECRET_PATH not in text
        assert SECRET_TOKEN not in text


def _assert_no_chained_error(exc: BaseException) -> None:
    """A traceback must not show an underlying error that may carry the URL."""
    assert exc.__cause__ is None
    assert exc.__context__ is None or exc.__suppress_context__


# --- messages ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ev", "needle", "severity"),
    [
        (event("deployed", env="staging", evidence={"passed": True}), "passed staging", "success"),
        (event("deployed", env="staging", evidence={"passed": False}), "failed staging", "error"),
        (event("promoted", approver="alice"), "promoted to production", "success"),
        (event("refused", reason="no approval"), "refused promotion to production", "warning"),
        (event("rolled_back", reason="smoke test failed"), "rolled back in production", "error"),
        (event("check_failed", reason="p95 2400ms"), "failed checks in production", "error"),
        (event("held", reason="canary inconclusive"), "held as a canary in production", "warning"),
    ],
)
def test_message_per_event_kind(ev: LedgerEvent, needle: str, severity: str) -> None:
    message = build_message(ev)
    assert needle in message.text
    assert message.text.startswith(":") and "llama 1.2.0 (abababababab)" in message.text
    if ev.reason:
        assert message.text.endswith(ev.reason)
    assert message.severity == severity
    assert render_blocks(message)[0]["text"]["text"] == message.text
    fields = " ".join(f["text"] for f in render_blocks(message)[1]["fields"])
    assert "*Environment*" in fields and ev.env in fields


def test_deployment_messages_carry_the_commit() -> None:
    """As the seed's Slack message did: which commit of the models repo is being deployed."""
    sha = "c0ffee" + "1" * 34
    for kind in ("deployed", "promoted", "rolled_back", "refused"):
        message = build_message(event(kind, commit_sha=sha))
        assert f"(commit {sha[:12]})" in message.text
        fields = [f["text"] for b in render_blocks(message) for f in b.get("fields", [])]
        assert f"*Commit*\n`{sha[:12]}`" in fields
    assert "commit" not in build_message(event("promoted")).text  # none recorded: none shown


def test_log_notifier_levels(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    notifier = LogNotifier()
    notifier.notify(event("promoted"))
    notifier.notify(event("refused", reason="no approval"))
    notifier.notify(event("rolled_back"))
    levels = [
        (r.levelno, r.getMessage())
        for r in caplog.records
        if r.name == "llm_platform.reporting.notify"
    ]
    assert [lvl for lvl, _ in levels] == [logging.INFO, logging.WARNING, logging.ERROR]
    assert "no approval" in levels[1][1]


# --- Slack ---------------------------------------------------------------------------------------


def test_slack_posts_text_and_blocks(
    slack_server: SlackServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    notifier = SlackNotifier(slack_server.url(HOOK), timeout=5)
    message = notifier.notify(
        event("promoted", approver="alice", run_id="run-7", evidence={"slo": "pass"})
    )
    assert [path for path, _ in slack_server.received] == [SECRET_PATH]
    (body,) = [body for _, body in slack_server.received]
    assert body["text"] == message.text
    assert "llama 1.2.0 (abababababab) promoted to production" in body["text"]
    rendered = json.dumps(body["blocks"])
    assert "alice" in rendered and "run-7" in rendered and "*slo*: pass" in rendered
    _assert_secret_absent(caplog.text, repr(notifier), str(notifier))


def test_slack_failure_names_status_never_url(
    slack_server: SlackServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    slack_server.status = 500
    slack_server.reply = f"no_service at {SECRET_PATH}"  # a server echoing the secret back
    notifier = SlackNotifier(slack_server.url(HOOK), timeout=5)
    with pytest.raises(NotificationError) as info:
        notifier.notify(event("rolled_back"))
    assert len(slack_server.received) == 1
    assert "HTTP 500" in str(info.value)
    assert "no_service at <redacted>" in str(info.value)
    _assert_no_chained_error(info.value)
    _assert_secret_absent(str(info.value), repr(info.value), caplog.text)


def test_slack_unreachable_names_error_never_url(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"{closed_port_url()}{SECRET_PATH}"
    notifier = SlackNotifier(url, timeout=2)
    with pytest.raises(NotificationError, match="request failed") as info:
        notifier.notify(event("check_failed"))
    _assert_secret_absent(str(info.value), caplog.text)
    _assert_no_chained_error(info.value)
    assert "slack_sdk:" in caplog.text  # slack_sdk's own log lines still arrive, redacted


def test_slack_rejects_non_http_url_without_echoing_it() -> None:
    with pytest.raises(NotificationError) as info:
        SlackNotifier(f"ftp://example.com{SECRET_PATH}")
    _assert_secret_absent(str(info.value))


# --- the resource ----------------------------------------------------------------------------


def test_resource_off_logs_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    resource = NotifierResource()
    assert not resource.slack_enabled
    assert resource.notify(event("promoted")) is True
    assert "promoted to production" in caplog.text


def test_resource_failure_logged_or_raised(
    slack_server: SlackServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    slack_server.status = 500
    resource = NotifierResource(slack_webhook_url=slack_server.url(HOOK))
    assert resource.notify(event("refused")) is False
    assert "not delivered" in caplog.text and "HTTP 500" in caplog.text
    strict = NotifierResource(slack_webhook_url=slack_server.url(HOOK), raise_on_error=True)
    with pytest.raises(NotificationError):
        strict.notify(build_message(event("refused")))
    assert len(slack_server.received) == 2
    _assert_secret_absent(caplog.text, repr(resource), str(strict))


def test_resource_in_a_run_keeps_secret_out_of_events(
    slack_server: SlackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", slack_server.url(HOOK))

    @dg.asset
    def announce(context: dg.AssetExecutionContext, notifier: NotifierResource) -> None:
        delivered = notifier.notify(event("promoted", run_id=context.run_id))
        context.add_output_metadata({"delivered": delivered, "notifier": repr(notifier)})

    resource = NotifierResource(slack_webhook_url=dg.EnvVar("SLACK_WEBHOOK_URL"))
    with dg.instance_for_test() as instance:
        result = dg.materialize([announce], resources={"notifier": resource}, instance=instance)
        assert result.success
        logs = instance.all_logs(result.run_id)
        run = instance.get_run_by_id(result.run_id)
        assert run is not None
        dumped = "\n".join(str(entry) for entry in logs) + json.dumps(run.tags)
        dumped += str(run.run_config)
    assert len(slack_server.received) == 1 and slack_server.received[0][1]["text"].startswith(
        ":rocket:"
    )
    assert "delivered" in dumped and "NotifierResource(slack=configured" in dumped
    _assert_secret_absent(dumped)
