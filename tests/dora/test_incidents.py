"""SLO announcements as incidents: what the ledger records and the notifier hears."""

from __future__ import annotations

from pathlib import Path

from llm_platform.artifact_store.local_store import LocalDirStore
from llm_platform.dora.incidents import IncidentAnnouncer
from llm_platform.promotion import Ledger, LedgerEvent
from llm_platform.slo.announce import Announcement


class Heard:
    """A notifier that keeps what it was told."""

    def __init__(self) -> None:
        self.events: list[LedgerEvent] = []

    def notify(self, event: LedgerEvent) -> bool:
        self.events.append(event)
        return True


def _announcer(notifier: Heard, ledger: Ledger | None) -> IncidentAnnouncer:
    return IncidentAnnouncer(
        model="llama",
        env="production" if ledger else "staging",
        version="1.0.0",
        digest="d" * 64,
        revision="r1",
        run_id="run-1",
        notifier=notifier,
        ledger=ledger,
    )


def test_staging_notifies_failures_only_and_records_nothing() -> None:
    heard = Heard()
    announcer = _announcer(heard, None)
    assert announcer.announce(Announcement("pass", "ok")) is None
    assert announcer.announce(Announcement("inconclusive", "no data")) is None
    event = announcer.announce(Announcement("fail", "latency 3000 ms > 2000 ms"))
    assert event is not None and heard.events == [event]
    assert (event.kind, event.env, event.revision, event.run_id) == (
        "check_failed",
        "staging",
        "r1",
        "run-1",
    )
    assert event.reason == "latency 3000 ms > 2000 ms" and not event.event_id


def test_production_opens_and_closes_an_incident_in_the_ledger(tmp_path: Path) -> None:
    heard = Heard()
    ledger = Ledger(LocalDirStore(tmp_path))
    announcer = _announcer(heard, ledger)
    assert announcer.announce(Announcement("pass", "all met")) is None  # no incident open
    failed = announcer.announce(Announcement("fail", "burning fast"))
    assert announcer.announce(Announcement("fail", "still burning")) is not None
    recovered = announcer.announce(Announcement("pass", "all met"))
    assert failed is not None and recovered is not None
    assert recovered.kind == "recovered" and recovered.reason == "SLOs pass again: all met"
    assert [e.kind for e in heard.events] == ["check_failed", "check_failed", "recovered"]
    recorded = ledger.history("llama", env="production")
    assert [e.kind for e in recorded] == ["recovered", "check_failed", "check_failed"]
    assert all(e.event_id for e in heard.events)  # notified as recorded
