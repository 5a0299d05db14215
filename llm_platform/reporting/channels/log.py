"""The log channel: every message is written to a :mod:`logging` logger (the embedded default,
and where a message goes when no webhook is configured)."""

from __future__ import annotations

import logging

from llm_platform.reporting.channels.base import ChannelSpec, Notifier
from llm_platform.reporting.message import Message

#: Every announcement is logged under this one name, whichever module sends it.
logger = logging.getLogger("llm_platform.reporting.notify")


class LogNotifier(Notifier):
    """Writes each message's text to a logger."""

    _LEVELS = {"info": logging.INFO, "success": logging.INFO, "warning": logging.WARNING}

    def __init__(self, log: logging.Logger | None = None) -> None:
        self.log = log or logger

    def __repr__(self) -> str:
        return f"LogNotifier({self.log.name!r})"

    def send(self, message: Message) -> None:
        """Log the message's text (errors at ERROR, refusals at WARNING, the rest at INFO)."""
        self.log.log(self._LEVELS.get(message.severity, logging.ERROR), "%s", message.text)


CHANNEL = ChannelSpec(
    name="log", label="Log", webhooks=None, open=lambda url, timeout: LogNotifier()
)
