"""What every channel is: a :class:`Notifier` that delivers a :class:`Message`, and the
:class:`ChannelSpec` that registers it (``llm_platform/reporting/channels/__init__.py``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from llm_platform.common.errors import PlatformError
from llm_platform.reporting.announcements import AnnouncedEvent, build_message
from llm_platform.reporting.message import Message

REDACTED = "<redacted>"


class NotificationError(PlatformError):
    """A notification could not be delivered (the message never contains the webhook URL)."""


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every secret replaced by ``<redacted>``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


class Notifier(ABC):
    """Delivers messages to one destination of one channel."""

    @abstractmethod
    def send(self, message: Message) -> None:
        """Deliver one message.

        Raises:
            NotificationError: The message could not be delivered.
        """

    def notify(self, event: AnnouncedEvent) -> Message:
        """Build the message for a ledger event and send it.

        Returns:
            The message sent.

        Raises:
            NotificationError: The message could not be delivered.
        """
        message = build_message(event)
        self.send(message)
        return message


@dataclass(frozen=True)
class Webhooks:
    """How operators give a channel its destinations: environment variables holding URLs.

    Attributes:
        prefix: Every variable of the channel starts with it (``SLACK_WEBHOOK_``); an
            environment config names one (``monitoring.alert_manager_webhook``).
        global_env: The variable of the global webhook (``SLACK_WEBHOOK_URL``): messages of
            environments without their own, and of failures outside any environment.
    """

    prefix: str
    global_env: str


@dataclass(frozen=True)
class ChannelSpec:
    """One channel in the registry.

    Attributes:
        name: The channel's name (``log``, ``slack``).
        label: Its name in log lines (``Slack``).
        webhooks: Its variables, or None for a channel without a URL (the log).
        open: Builds the notifier of one destination from its URL (None for the log) and the
            request timeout in seconds.
    """

    name: str
    label: str
    webhooks: Webhooks | None
    open: Callable[[str | None, int], Notifier]
