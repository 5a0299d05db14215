"""SLO verdicts as incidents in the ledger and as notifications (the time-to-restore inputs).

A production SLO check's announcement (:mod:`llm_platform.slo.announce`) becomes a
``check_failed`` event when it fails and a ``recovered`` event when a pass ends an open
incident, each recorded and notified; a staging check only notifies its failures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from llm_platform.dora.metrics import incident_event_kind
from llm_platform.promotion.ledger import Ledger, LedgerEvent
from llm_platform.slo.announce import Announcement


class EventNotifier(Protocol):
    """Where announced ledger events go (the notifier of the deployment's environment)."""

    def notify(self, event: LedgerEvent) -> object:
        """Announce ``event``."""
        ...


def announce_verdict(
    verdict: str, failed: LedgerEvent, *, notifier: EventNotifier, ledger: Ledger | None
) -> LedgerEvent | None:
    """Notify a failed check; with ``ledger`` (production) also record it, and record and
    notify ``recovered`` when a pass ends an open incident (the time-to-restore inputs).

    Args:
        verdict: The overall SLO verdict (``pass``, ``fail``, ``inconclusive``, ``error``).
        failed: The ``check_failed`` event this verdict would be (model, env, digest, run...).
        notifier: Where messages go.
        ledger: The promotion ledger, for production; ``None`` records nothing.

    Returns:
        The event notified (as recorded, when recorded), or ``None``.
    """
    if ledger is None:
        kind = "check_failed" if verdict == "fail" else None
    else:
        kind = incident_event_kind(
            ledger.history(failed.model, env=failed.env), verdict, env=failed.env
        )
    if kind is None:
        return None
    event = failed.model_copy(update={"kind": kind})
    if kind == "recovered":
        event = event.model_copy(update={"reason": f"SLOs pass again: {failed.reason}"})
    if ledger is not None:
        event = ledger.record(event)
    notifier.notify(event)
    return event


@dataclass(frozen=True)
class IncidentAnnouncer:
    """Announces one deployment's SLO verdicts (an :class:`~llm_platform.slo.announce.Announcer`).

    Attributes:
        model, env, version, digest, revision, run_id: What the events name.
        notifier: Where messages go.
        ledger: The promotion ledger, for production (incidents); ``None`` records nothing.
    """

    model: str
    env: str
    version: str | None
    digest: str | None
    revision: str | None
    run_id: str | None
    notifier: EventNotifier
    ledger: Ledger | None

    def announce(self, announcement: Announcement) -> LedgerEvent | None:
        """Notify (and in production record) what ``announcement`` means for the incident."""
        failed = LedgerEvent(
            kind="check_failed",
            model=self.model,
            env=self.env,
            version=self.version,
            digest=self.digest,
            revision=self.revision,
            run_id=self.run_id,
            reason=announcement.reason,
        )
        return announce_verdict(
            announcement.verdict, failed, notifier=self.notifier, ledger=self.ledger
        )
