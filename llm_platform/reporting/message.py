"""The channel-neutral message: what an announcement says, built once, rendered per channel.

A :class:`Message` holds content only — a one-line title, labelled fields, details, a
preformatted body, a footer, links — never a channel's markup. Each channel in
``llm_platform/reporting/channels/`` renders it its own way: the log writes :attr:`Message.text`,
Slack builds Block Kit blocks.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Severity = Literal["info", "success", "warning", "error"]


class Span(BaseModel):
    """A piece of a field's value: plain text, code, or text that links to ``url``."""

    model_config = ConfigDict(frozen=True)

    text: str
    code: bool = False
    url: str | None = None


def plain(text: str) -> Span:
    """Plain text."""
    return Span(text=text)


def code(text: str) -> Span:
    """Text shown as code (a digest, a commit SHA, a step key)."""
    return Span(text=text, code=True)


def link(url: str, text: str) -> Span:
    """``text`` linking to ``url``."""
    return Span(text=text, url=url)


class MessageField(BaseModel):
    """One labelled value of the message's grid (Model, Environment, Commit, Run...)."""

    model_config = ConfigDict(frozen=True)

    label: str
    value: tuple[Span, ...]


class Detail(BaseModel):
    """One line of evidence: a key and its value, already cut to a readable length."""

    model_config = ConfigDict(frozen=True)

    key: str
    value: str


class Link(BaseModel):
    """A page the reader may open (the run in the Dagster UI)."""

    model_config = ConfigDict(frozen=True)

    label: str
    url: str


class Message(BaseModel):
    """One announcement, independent of the channel that carries it.

    Attributes:
        kind: What happened: a ledger event's kind (``promoted``, ``rolled_back``...) or
            ``run_failed``.
        severity: How the channel should weigh it (the log's level, a card's colour).
        icon: Emoji short name (``rocket``), shown before the title.
        title: The one-line summary, without the icon.
        fields: The labelled values, in order.
        details: Evidence lines, in order.
        omitted_details: How many evidence entries were left out.
        body: Preformatted text (a failure's reason), if any.
        footer: Who acted and when, if known.
        commit_sha: The models-repo commit concerned, if known.
        links: Pages to open (the run), for channels that show them apart.
    """

    model_config = ConfigDict(frozen=True)

    kind: str
    severity: Severity
    icon: str
    title: str
    fields: tuple[MessageField, ...] = ()
    details: tuple[Detail, ...] = ()
    omitted_details: int = 0
    body: str | None = None
    footer: str | None = None
    commit_sha: str | None = None
    links: tuple[Link, ...] = ()

    @property
    def text(self) -> str:
        """The message on one line, icon first: the log line and every channel's fallback."""
        return f":{self.icon}: {self.title}"
