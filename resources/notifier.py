"""Notifications as a Dagster resource: Slack incoming webhook when configured, else the log.

Wire the URL as ``NotifierResource(slack_webhook_url=dg.EnvVar("SLACK_WEBHOOK_URL"))`` so the UI
shows the variable's name, never its value. The field is also excluded from the resource's
``repr``, and delivery errors never contain it.
"""

from __future__ import annotations

import logging

import dagster as dg
from pydantic import Field, PrivateAttr

from llm_platform.notify import (
    LogNotifier,
    Notification,
    NotificationError,
    Notifier,
    SlackNotifier,
    build_message,
)
from llm_platform.promotion.ledger import LedgerEvent

logger = logging.getLogger(__name__)


class NotifierResource(dg.ConfigurableResource):
    """Announces staging results, promotions, refusals, rollbacks and failed checks.

    Slack when ``slack_webhook_url`` is set; otherwise messages only go to the log. A failed
    Slack delivery is logged as an error (status, never the URL) and, with
    ``raise_on_error``, raised, so a Slack outage does not fail a rollback by default.
    """

    slack_webhook_url: str | None = Field(
        default=None,
        repr=False,
        description="Slack incoming-webhook URL (secret: set it through dg.EnvVar). "
        "Unset: notifications are only logged.",
    )
    raise_on_error: bool = Field(
        default=False, description="Raise when a Slack message cannot be delivered."
    )
    timeout_seconds: int = Field(default=10, ge=1, description="Slack request timeout.")

    _notifier: Notifier | None = PrivateAttr(default=None)

    def __repr__(self) -> str:
        slack = "configured" if self.slack_webhook_url else "off"
        return f"NotifierResource(slack={slack}, raise_on_error={self.raise_on_error})"

    __str__ = __repr__

    @property
    def slack_enabled(self) -> bool:
        """Whether messages go to Slack (as opposed to the log only)."""
        return bool(self.slack_webhook_url)

    def notifier(self) -> Notifier:
        """The underlying notifier (created on first use)."""
        if self._notifier is None:
            if self.slack_webhook_url:
                self._notifier = SlackNotifier(self.slack_webhook_url, timeout=self.timeout_seconds)
            else:
                self._notifier = LogNotifier()
        return self._notifier

    def notify(self, event: LedgerEvent | Notification) -> bool:
        """Send a notification for a ledger event (or a prebuilt message).

        The message is always logged; with Slack configured it is also posted.

        Args:
            event: What happened.

        Returns:
            True when delivered, False when the Slack delivery failed (and was logged).

        Raises:
            NotificationError: Delivery failed and ``raise_on_error`` is set.
        """
        message = event if isinstance(event, Notification) else build_message(event)
        notifier = self.notifier()
        if isinstance(notifier, LogNotifier):
            notifier.send(message)
            return True
        logger.info("notification: %s", message.text)
        try:
            notifier.send(message)
        except NotificationError as exc:
            logger.error("Slack notification (%s) not delivered: %s", message.kind, exc)
            if self.raise_on_error:
                raise
            return False
        return True
