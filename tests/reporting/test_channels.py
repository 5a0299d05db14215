"""The channel registry: one table that routing, the config check, the settings' discovery of
webhook variables and the notifier resource all read. A channel added to the table (here a fake
one, as a Microsoft Teams module would be) is routed, validated, discovered and delivered to
without touching any other module."""

from __future__ import annotations

import logging

import pytest

from llm_platform.promotion import LedgerEvent
from llm_platform.reporting import channels
from llm_platform.reporting.channels import CHANNELS, LOG, channel_of, log, slack
from llm_platform.reporting.channels.base import ChannelSpec, NotificationError, Notifier, Webhooks
from llm_platform.reporting.channels.log import LogNotifier
from llm_platform.reporting.message import Message
from llm_platform.reporting.notify import Dispatcher
from llm_platform.reporting.routes import (
    GLOBAL_WEBHOOK_ENV,
    LOG_ONLY,
    Route,
    check_webhook_env_name,
    choose_route,
    is_webhook_env_name,
)
from llm_platform.settings import webhook_env_vars
from resources.notifier import NotifierResource

PROMOTED = LedgerEvent(kind="promoted", model="llama", env="production", version="1.0.0")


class Recorder(Notifier):
    """A channel's notifier that keeps what it was given."""

    def __init__(self, url: str | None, fail: bool = False) -> None:
        self.url, self.fail, self.sent = url, fail, list[Message]()

    def send(self, message: Message) -> None:
        if self.fail:
            raise NotificationError("HTTP 503: down")
        self.sent.append(message)


OPENED: dict[str, Recorder] = {}


def _open(url: str | None, timeout: int) -> Recorder:
    OPENED[url or ""] = Recorder(url, fail=url == "http://teams.invalid/down")
    return OPENED[url or ""]


TEAMS = ChannelSpec(
    name="teams",
    label="Teams",
    webhooks=Webhooks(prefix="TEAMS_WEBHOOK_", global_env="TEAMS_WEBHOOK_URL"),
    open=_open,
)


@pytest.fixture()
def teams(monkeypatch: pytest.MonkeyPatch) -> ChannelSpec:
    """The registry with one more line."""
    OPENED.clear()
    monkeypatch.setattr(channels, "CHANNELS", (*CHANNELS, TEAMS))
    return TEAMS


def test_the_table_lists_each_channel_once_the_log_first() -> None:
    names = [spec.name for spec in CHANNELS]
    assert names == ["log", "slack"] and len(set(names)) == len(names)
    assert CHANNELS[0] is LOG is log.CHANNEL and LOG.webhooks is None
    for spec, hooks in channels.webhook_channels():
        assert hooks.prefix.endswith("_") and hooks.global_env.startswith(hooks.prefix)
        assert channel_of(hooks.global_env) is spec
    assert GLOBAL_WEBHOOK_ENV == slack.WEBHOOKS.global_env == "SLACK_WEBHOOK_URL"
    assert LOG_ONLY == "log"


def test_a_destination_names_its_channel() -> None:
    assert channel_of("log") is LOG
    assert channel_of("SLACK_WEBHOOK_PRODUCTION") is slack.CHANNEL
    assert channel_of("KFP_TOKEN") is None
    assert Route("SLACK_WEBHOOK_URL").channel == "slack" and Route("log").channel == "log"
    assert isinstance(LOG.open(None, 10), LogNotifier)
    with pytest.raises(NotificationError):
        slack.CHANNEL.open(None, 10)


def test_a_new_channel_is_validated_discovered_and_routed(teams: ChannelSpec) -> None:
    assert check_webhook_env_name("TEAMS_WEBHOOK_OPS") == "TEAMS_WEBHOOK_OPS"
    assert is_webhook_env_name("SLACK_WEBHOOK_PRODUCTION") and not is_webhook_env_name("TEAMS_X")
    with pytest.raises(ValueError, match="SLACK_WEBHOOK_<NAME> or TEAMS_WEBHOOK_<NAME>"):
        check_webhook_env_name("PAGERDUTY_KEY")
    env = {"TEAMS_WEBHOOK_OPS": "http://t/ops", "TEAMS_WEBHOOK_URL": "http://t/all"}
    assert webhook_env_vars(env) == ("TEAMS_WEBHOOK_OPS", "TEAMS_WEBHOOK_URL")
    route = choose_route("TEAMS_WEBHOOK_OPS", available=env.keys())
    assert (route.destination, route.channel, route.is_slack) == (
        "TEAMS_WEBHOOK_OPS",
        "teams",
        False,
    )
    # Slack's global webhook is preferred (table order), then the new channel's.
    both = {GLOBAL_WEBHOOK_ENV, "TEAMS_WEBHOOK_URL"}
    assert choose_route(None, available=both).destination == GLOBAL_WEBHOOK_ENV
    assert choose_route(None, available={"TEAMS_WEBHOOK_URL"}).destination == "TEAMS_WEBHOOK_URL"


def test_the_resource_delivers_to_a_new_channel(teams: ChannelSpec) -> None:
    resource = NotifierResource(environment_webhooks={"TEAMS_WEBHOOK_URL": "http://teams/all"})
    assert resource.slack_enabled  # a webhook is set: not only logged
    assert resource.notify(PROMOTED) is True
    (sent,) = OPENED["http://teams/all"].sent
    assert sent.kind == "promoted" and sent.title.startswith("llama 1.0.0")


def test_dispatcher_opens_each_destination_once_and_reports_failures(
    teams: ChannelSpec, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    urls = {
        "TEAMS_WEBHOOK_OPS": "http://teams/ops",
        "TEAMS_WEBHOOK_DOWN": "http://teams.invalid/down",
    }
    dispatcher = Dispatcher(urls, timeout=5, raise_on_error=False)
    message = Message(kind="promoted", severity="success", icon="rocket", title="t")
    assert dispatcher.deliver(message, Route("TEAMS_WEBHOOK_OPS"))
    assert dispatcher.deliver(message, Route("TEAMS_WEBHOOK_OPS"))
    assert dispatcher.notifier("TEAMS_WEBHOOK_OPS") is OPENED["http://teams/ops"]
    assert len(OPENED["http://teams/ops"].sent) == 2
    assert dispatcher.deliver(message, Route("TEAMS_WEBHOOK_DOWN")) is False
    assert "Teams notification (promoted) to TEAMS_WEBHOOK_DOWN not delivered: HTTP 503" in (
        caplog.text
    )
    assert "http://teams" not in caplog.text + repr(dispatcher)  # names, never URLs
    strict = Dispatcher(urls, timeout=5, raise_on_error=True)
    with pytest.raises(NotificationError):
        strict.deliver(message, Route("TEAMS_WEBHOOK_DOWN"))
    with pytest.raises(NotificationError, match="no channel"):
        dispatcher.deliver(message, Route("PAGERDUTY_KEY"))


def test_the_log_channel_writes_the_text_at_the_severitys_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    dispatcher = Dispatcher({}, timeout=5, raise_on_error=True)
    for severity in ("info", "success", "warning", "error"):
        dispatcher.deliver(
            Message(kind="k", severity=severity, icon="x", title=severity), Route(LOG_ONLY)
        )
    records = [r for r in caplog.records if r.name == "llm_platform.reporting.notify"]
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.INFO, ":x: info"),
        (logging.INFO, ":x: success"),
        (logging.WARNING, ":x: warning"),
        (logging.ERROR, ":x: error"),
    ]
