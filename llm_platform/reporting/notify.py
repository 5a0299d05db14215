"""Delivering announcements: each destination's channel opened once, a failed delivery reported
as data (or raised), webhook URLs never in a log line.

Messages are built elsewhere (``announcements`` for ledger events, ``failure_alerts`` for failed
runs); the routes say where each goes (``routes``); the channels render and send
(``channels/``). The notifier resource wires these to Dagster.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from llm_platform.reporting.channels import channel_of
from llm_platform.reporting.channels.base import NotificationError, Notifier, redact
from llm_platform.reporting.message import Message
from llm_platform.reporting.routes import LOG_ONLY, Route

logger = logging.getLogger(__name__)


class Dispatcher:
    """Sends messages along routes.

    Args:
        urls: Webhook variable name -> URL (secrets), for every destination that is set.
        timeout: Request timeout of a webhook, in seconds.
        raise_on_error: Raise when a message cannot be delivered (else log it and go on).
    """

    def __init__(self, urls: Mapping[str, str], *, timeout: int, raise_on_error: bool) -> None:
        self.__urls = dict(urls)
        self.timeout = timeout
        self.raise_on_error = raise_on_error
        self._notifiers: dict[str, Notifier] = {}

    def __repr__(self) -> str:
        return f"Dispatcher(destinations={sorted(self.__urls)}, timeout={self.timeout})"

    def notifier(self, destination: str) -> Notifier:
        """The notifier of ``destination`` (a webhook variable, or ``log``), opened once."""
        if destination not in self._notifiers:
            spec = channel_of(destination)
            if spec is None:
                raise NotificationError(f"no channel for destination {destination}")
            self._notifiers[destination] = spec.open(self.__urls.get(destination), self.timeout)
        return self._notifiers[destination]

    def deliver(self, message: Message, route: Route) -> bool:
        """Log ``message`` and send it along ``route``.

        Returns:
            True when delivered, False when the webhook delivery failed (and was logged).

        Raises:
            NotificationError: Delivery failed and ``raise_on_error`` is set.
        """
        notifier = self.notifier(route.destination)
        if route.destination == LOG_ONLY:
            notifier.send(message)
            return True
        secrets = list(self.__urls.values())
        logger.info("notification to %s: %s", route.destination, redact(message.text, secrets))
        try:
            notifier.send(message)
        except NotificationError as exc:
            spec = channel_of(route.destination)
            logger.error(
                "%s notification (%s) to %s not delivered: %s",
                spec.label if spec is not None else route.destination,
                message.kind,
                route.destination,
                exc,
            )
            if self.raise_on_error:
                raise
            return False
        return True
