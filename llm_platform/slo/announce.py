"""What an SLO check announces: the verdict-to-announcement policy.

A staging verdict is announced as it is: a failure is notified, nothing else. In production the
re-check's decision (:mod:`llm_platform.slo.recheck`) is what counts: a decision that acts (a
rollback, or a slow burn that notifies) is announced as a failure with the decision's reason; a
window breach that the error budget absorbs is no incident and is announced as a pass, so it
also closes an open incident; an inconclusive window stays inconclusive (never news).

Who hears of an announcement (the notifier, the ledger's incidents) is the caller's
:class:`Announcer`; this module only decides what is said.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from llm_platform.slo.evaluate import SLOVerdict, Verdict
from llm_platform.slo.recheck import RecheckOutcome


@dataclass(frozen=True)
class Announcement:
    """The verdict an SLO check announces, and the one-line reason that goes with it."""

    verdict: Verdict
    reason: str


class Announcer(Protocol):
    """Where an SLO check's announcement goes (notifications; in production, incidents)."""

    def announce(self, announcement: Announcement) -> object:
        """Make ``announcement`` known; what it returns is the caller's business."""
        ...


def announcement(verdict: SLOVerdict, decision: RecheckOutcome | None) -> Announcement:
    """What a check announces for ``verdict`` (see the module docstring).

    Args:
        verdict: The window verdict of the deployed revision.
        decision: The production re-check's decision; ``None`` in staging.
    """
    if decision is None:
        return Announcement(verdict.verdict, verdict.reason)
    if decision.action != "none":
        return Announcement("fail", decision.reason)
    return Announcement("pass" if verdict.verdict == "fail" else verdict.verdict, decision.reason)
