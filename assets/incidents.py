"""Production SLO verdicts in the ledger (incidents) and in the notifications."""

from llm_platform.dora.metrics import incident_event_kind
from llm_platform.promotion import Ledger, LedgerEvent
from resources.notifier import NotifierResource


def announce_verdict(
    verdict: str, failed: LedgerEvent, *, notifier: NotifierResource, ledger: Ledger | None
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
