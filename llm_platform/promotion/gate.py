"""The promotion gate: may this digest go to production now? Pure decisions, no Dagster.

Each part (checks, approval, capacity) gives a :class:`GateItem`; the gate allows promotion only
when every item is ok. Reasons are written for the person looking at the refused run.
"""

from __future__ import annotations

from pydantic import BaseModel

from llm_platform.common.gate_item import GateItem


class CheckEvidence(BaseModel):
    """The latest result of one staging check, as the gate saw it."""

    name: str
    executed: bool
    passed: bool
    current: bool  # judged the latest staging materialization (not a stale one)
    description: str | None = None


class GateDecision(BaseModel):
    """All conditions; ``allowed`` only when every one holds."""

    items: list[GateItem]

    @property
    def allowed(self) -> bool:
        """True when every condition holds."""
        return all(i.ok for i in self.items)

    @property
    def reason(self) -> str:
        """The refusal reasons (or a one-line summary when allowed)."""
        failed = [f"{i.name}: {i.reason}" for i in self.items if not i.ok]
        return "; ".join(failed) if failed else "all promotion conditions hold"


def checks_item(evidence: list[CheckEvidence], *, digest: str) -> GateItem:
    """Every staging check must have run against the latest staging deployment and passed."""
    problems = []
    for ev in evidence:
        if not ev.executed:
            problems.append(f"{ev.name} has not run for this staging deployment")
        elif not ev.current:
            problems.append(f"{ev.name} is stale (staging was redeployed after it ran)")
        elif not ev.passed:
            problems.append(
                f"{ev.name} failed" + (f" ({ev.description})" if ev.description else "")
            )
    if problems:
        return GateItem(name="staging checks", ok=False, reason="; ".join(problems))
    names = ", ".join(ev.name for ev in evidence)
    return GateItem(
        name="staging checks", ok=True, reason=f"{names} passed for digest {digest[:12]}"
    )
