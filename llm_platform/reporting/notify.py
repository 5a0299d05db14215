"""Notifications about promotions: a log notifier (the default) and a Slack incoming webhook.

Messages are built from :class:`~llm_platform.promotion.ledger.LedgerEvent`s, so everything the
ledger records (staging results, promotions, refusals, rollbacks, failed checks) can be
announced the same way.

The Slack webhook URL is a secret (anyone holding it can post to the channel). It is kept in a
private attribute and never appears in a ``repr``/``str``, an exception message or a log line:
slack_sdk's own logger (which prints the URL on debug and retry) is replaced by one that
redacts it.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field

from llm_platform.common.errors import PlatformError
from llm_platform.promotion.ledger import LedgerEvent

logger = logging.getLogger(__name__)

REDACTED = "<redacted>"
_MAX_BLOCK_TEXT = 2900  # Slack's limit for a section's text is 3000 characters

Severity = Literal["info", "success", "warning", "error"]

_STYLE: dict[str, tuple[str, str, Severity]] = {
    # kind: (emoji, verb, severity)
    "deployed": (":package:", "deployed to", "info"),
    "promoted": (":rocket:", "promoted to", "success"),
    "refused": (":no_entry:", "refused promotion to", "warning"),
    "rolled_back": (":rewind:", "rolled back in", "error"),
    "held": (":pause_button:", "held as a canary in", "warning"),
    "check_failed": (":x:", "failed checks in", "error"),
    "recovered": (":white_check_mark:", "passes its checks again in", "success"),
}


class NotificationError(PlatformError):
    """A notification could not be delivered (the message never contains the webhook URL)."""


class Notification(BaseModel):
    """One message: plain ``text`` (fallback and log line) plus Slack ``blocks``."""

    model_config = ConfigDict(frozen=True)

    kind: str
    severity: Severity
    text: str
    blocks: list[dict[str, Any]] = Field(default_factory=list)


def _short(digest: str | None) -> str:
    return digest[:12] if digest else "-"


def _evidence_lines(evidence: dict[str, Any], limit: int = 8) -> list[str]:
    lines = []
    for key, value in list(evidence.items())[:limit]:
        if isinstance(value, (dict, list)):
            text = f"{type(value).__name__} of {len(value)}"
        else:
            text = str(value)
        lines.append(f"• *{key}*: {text[:200]}")
    if len(evidence) > limit:
        lines.append(f"• … {len(evidence) - limit} more")
    return lines


def build_message(event: LedgerEvent, *, run_url: str | None = None) -> Notification:
    """The notification for a ledger event.

    A ``deployed`` event with ``evidence["passed"]`` set reads as a staging result
    (passed/failed); the other kinds read as promotion, refusal, rollback or failed checks.
    ``run_url`` (the run's page in the Dagster UI) links the run.
    """
    emoji, verb, severity = _STYLE[event.kind]
    if event.kind == "deployed" and "passed" in event.evidence:
        passed = bool(event.evidence["passed"])
        emoji = ":white_check_mark:" if passed else ":warning:"
        verb = "passed staging in" if passed else "failed staging in"
        severity = "success" if passed else "error"
    subject = f"{event.model} {event.version or '?'} ({_short(event.digest)})"
    text = f"{emoji} {subject} {verb} {event.env}"
    if event.commit_sha:
        text += f" (commit {event.commit_sha[:12]})"
    if event.reason:
        text += f": {event.reason}"
    fields = [
        f"*Model*\n{event.model}",
        f"*Environment*\n{event.env}",
        f"*Version*\n{event.version or '-'}",
        f"*Digest*\n`{_short(event.digest)}`",
    ]
    if event.commit_sha:
        fields.append(f"*Commit*\n`{event.commit_sha[:12]}`")
    if event.approver:
        fields.append(f"*Approver*\n{event.approver}")
    if event.run_id:
        run = f"<{run_url}|{event.run_id[:8]}>" if run_url else event.run_id
        fields.append(f"*Run*\n{run}")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text[:_MAX_BLOCK_TEXT]}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    evidence = _evidence_lines(event.evidence)
    if evidence:
        body = "\n".join(evidence)[:_MAX_BLOCK_TEXT]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body}})
    stamp = event.time.strftime("%Y-%m-%d %H:%M:%S UTC")
    who = f" by {event.actor}" if event.actor else ""
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"{event.kind}{who} at {stamp}"}],
        }
    )
    return Notification(kind=event.kind, severity=severity, text=text, blocks=blocks)


class Notifier(ABC):
    """Delivers notifications somewhere."""

    @abstractmethod
    def send(self, message: Notification) -> None:
        """Deliver one message.

        Raises:
            NotificationError: The message could not be delivered.
        """

    def notify(self, event: LedgerEvent) -> Notification:
        """Build the message for a ledger event and send it.

        Returns:
            The message sent.

        Raises:
            NotificationError: The message could not be delivered.
        """
        message = build_message(event)
        self.send(message)
        return message


class LogNotifier(Notifier):
    """Writes each message to a :mod:`logging` logger (the embedded default)."""

    _LEVELS = {"info": logging.INFO, "success": logging.INFO, "warning": logging.WARNING}

    def __init__(self, log: logging.Logger | None = None) -> None:
        self.log = log or logger

    def __repr__(self) -> str:
        return f"LogNotifier({self.log.name!r})"

    def send(self, message: Notification) -> None:
        """Log the message's text (errors at ERROR, refusals at WARNING, the rest at INFO)."""
        self.log.log(self._LEVELS.get(message.severity, logging.ERROR), "%s", message.text)


class _RedactingHandler(logging.Handler):
    """Forwards slack_sdk's log records to our logger with the secret URL removed."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__(logging.INFO)
        self._secrets = secrets

    def emit(self, record: logging.LogRecord) -> None:
        logger.log(record.levelno, "slack_sdk: %s", redact(record.getMessage(), self._secrets))


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every secret replaced by ``<redacted>``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


class SlackNotifier(Notifier):
    """Posts messages to a Slack incoming webhook through ``slack_sdk``'s ``WebhookClient``.

    Args:
        webhook_url: The webhook URL (a secret; never logged or shown).
        timeout: Request timeout in seconds.

    Raises:
        NotificationError: The URL is not an http(s) URL.
    """

    def __init__(self, webhook_url: str, *, timeout: int = 10) -> None:
        from slack_sdk.webhook import WebhookClient

        parsed = urlparse(webhook_url or "")
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise NotificationError("Slack webhook URL must be an http(s) URL (value not shown)")
        secrets = [webhook_url]
        if len(parsed.path) > 1:
            secrets.append(parsed.path)  # the secret part, in case it is logged on its own
        self.__secrets = secrets
        quiet = logging.Logger(f"{__name__}.slack_sdk", level=logging.INFO)
        quiet.propagate = False
        quiet.addHandler(_RedactingHandler(secrets))
        self.__client = WebhookClient(webhook_url, timeout=timeout, logger=quiet)

    def __repr__(self) -> str:
        return f"SlackNotifier(webhook_url={REDACTED!r})"

    __str__ = __repr__

    def send(self, message: Notification) -> None:
        """Post the message (text + blocks).

        Raises:
            NotificationError: The webhook answered with a non-200 status, or the request
                failed; the message names the status or error, never the URL.
        """
        try:
            response = self.__client.send(text=message.text, blocks=message.blocks)
        except Exception as exc:  # urllib/slack_sdk raise many types; re-raised, not swallowed
            detail = redact(str(exc), self.__secrets)
            raise NotificationError(
                f"Slack webhook request failed: {type(exc).__name__}: {detail}"
            ) from None
        if response.status_code != 200:
            body = redact(str(response.body or ""), self.__secrets)[:200]
            raise NotificationError(
                f"Slack webhook answered HTTP {response.status_code}: {body or 'no body'}"
            )
