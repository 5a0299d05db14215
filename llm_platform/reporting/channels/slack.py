"""The Slack channel: messages posted to an incoming webhook as Block Kit blocks.

The webhook URL is a secret (anyone holding it can post to the channel). It is kept in a
private attribute and never appears in a ``repr``/``str``, an exception message or a log line:
slack_sdk's own logger (which prints the URL on debug and retry) is replaced by one that
redacts it.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlparse

from llm_platform.reporting.channels.base import (
    REDACTED,
    ChannelSpec,
    NotificationError,
    Notifier,
    Webhooks,
    redact,
)
from llm_platform.reporting.message import Message, Span

logger = logging.getLogger(__name__)

_MAX_BLOCK_TEXT = 2900  # Slack's limit for a section's text is 3000 characters
_CODE_FENCE = "```"


def _span(span: Span) -> str:
    if span.url is not None:
        return f"<{span.url}|{span.text}>"
    return f"`{span.text}`" if span.code else span.text


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def render_blocks(message: Message) -> list[dict[str, Any]]:
    """The message as Block Kit blocks: title, fields, evidence, preformatted body, footer."""
    blocks = [_section(message.text[:_MAX_BLOCK_TEXT])]
    fields = [f"*{f.label}*\n" + "".join(_span(s) for s in f.value) for f in message.fields]
    blocks.append({"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]})
    lines = [f"• *{d.key}*: {d.value}" for d in message.details]
    if message.omitted_details:
        lines.append(f"• … {message.omitted_details} more")
    if lines:
        blocks.append(_section("\n".join(lines)[:_MAX_BLOCK_TEXT]))
    if message.body is not None:
        room = _MAX_BLOCK_TEXT - 2 * len(_CODE_FENCE)
        blocks.append(_section(f"{_CODE_FENCE}{message.body[:room]}{_CODE_FENCE}"))
    if message.footer is not None:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": message.footer}]})
    return blocks


class _RedactingHandler(logging.Handler):
    """Forwards slack_sdk's log records to our logger with the secret URL removed."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__(logging.INFO)
        self._secrets = secrets

    def emit(self, record: logging.LogRecord) -> None:
        logger.log(record.levelno, "slack_sdk: %s", redact(record.getMessage(), self._secrets))


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

    def send(self, message: Message) -> None:
        """Post the message (text + blocks).

        Raises:
            NotificationError: The webhook answered with a non-200 status, or the request
                failed; the message names the status or error, never the URL.
        """
        try:
            response = self.__client.send(text=message.text, blocks=render_blocks(message))
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


def _open(url: str | None, timeout: int) -> SlackNotifier:
    if url is None:
        raise NotificationError("the Slack channel needs a webhook URL")
    return SlackNotifier(url, timeout=timeout)


WEBHOOKS = Webhooks(prefix="SLACK_WEBHOOK_", global_env="SLACK_WEBHOOK_URL")
CHANNEL = ChannelSpec(name="slack", label="Slack", webhooks=WEBHOOKS, open=_open)
