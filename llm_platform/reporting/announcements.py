"""What the ledger's events announce: one :class:`~llm_platform.reporting.message.Message` per
event (staging results, promotions, refusals, holds, rollbacks, failed and recovered checks).

The events come from the promotion ledger, which sits above reporting: this module reads them
through :class:`~llm_platform.reporting.outcomes.AnnouncedEvent` and never imports the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llm_platform.reporting.message import (
    Detail,
    Link,
    Message,
    MessageField,
    Severity,
    Span,
    code,
    link,
    plain,
)
from llm_platform.reporting.outcomes import AnnouncedEvent

#: kind -> (icon, verb, severity)
_STYLE: dict[str, tuple[str, str, Severity]] = {
    "deployed": ("package", "deployed to", "info"),
    "promoted": ("rocket", "promoted to", "success"),
    "refused": ("no_entry", "refused promotion to", "warning"),
    "rolled_back": ("rewind", "rolled back in", "error"),
    "held": ("pause_button", "held as a canary in", "warning"),
    "check_failed": ("x", "failed checks in", "error"),
    "recovered": ("white_check_mark", "passes its checks again in", "success"),
}
_MAX_DETAILS = 8
_MAX_DETAIL_VALUE = 200


def _short(digest: str | None) -> str:
    return digest[:12] if digest else "-"


def _details(evidence: Mapping[str, Any]) -> tuple[Detail, ...]:
    details = []
    for key, value in list(evidence.items())[:_MAX_DETAILS]:
        if isinstance(value, dict | list):
            text = f"{type(value).__name__} of {len(value)}"
        else:
            text = str(value)
        details.append(Detail(key=key, value=text[:_MAX_DETAIL_VALUE]))
    return tuple(details)


def build_message(event: AnnouncedEvent, *, run_url: str | None = None) -> Message:
    """The message for a ledger event.

    A ``deployed`` event with ``evidence["passed"]`` set reads as a staging result
    (passed/failed); the other kinds read as promotion, refusal, rollback or failed checks.
    ``run_url`` (the run's page in the Dagster UI) links the run.
    """
    icon, verb, severity = _STYLE[event.kind]
    if event.kind == "deployed" and "passed" in event.evidence:
        passed = bool(event.evidence["passed"])
        icon = "white_check_mark" if passed else "warning"
        verb = "passed staging in" if passed else "failed staging in"
        severity = "success" if passed else "error"
    title = f"{event.model} {event.version or '?'} ({_short(event.digest)}) {verb} {event.env}"
    if event.commit_sha:
        title += f" (commit {event.commit_sha[:12]})"
    if event.reason:
        title += f": {event.reason}"
    fields = [
        MessageField(label="Model", value=(plain(event.model),)),
        MessageField(label="Environment", value=(plain(event.env),)),
        MessageField(label="Version", value=(plain(event.version or "-"),)),
        MessageField(label="Digest", value=(code(_short(event.digest)),)),
    ]
    if event.commit_sha:
        fields.append(MessageField(label="Commit", value=(code(event.commit_sha[:12]),)))
    if event.approver:
        fields.append(MessageField(label="Approver", value=(plain(event.approver),)))
    links: tuple[Link, ...] = ()
    if event.run_id:
        run: Span = link(run_url, event.run_id[:8]) if run_url else plain(event.run_id)
        fields.append(MessageField(label="Run", value=(run,)))
        links = (Link(label="Run", url=run_url),) if run_url else ()
    who = f" by {event.actor}" if event.actor else ""
    return Message(
        kind=event.kind,
        severity=severity,
        icon=icon,
        title=title,
        fields=tuple(fields),
        details=_details(event.evidence),
        omitted_details=max(0, len(event.evidence) - _MAX_DETAILS),
        footer=f"{event.kind}{who} at {event.time.strftime('%Y-%m-%d %H:%M:%S UTC')}",
        commit_sha=event.commit_sha,
        links=links,
    )
