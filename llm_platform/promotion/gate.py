"""The promotion gate: may this digest go to production now? Pure decisions, no Dagster.

Each part (checks, approval, capacity) gives a :class:`GateItem`; the gate allows promotion only
when every item is ok. Reasons are written for the person looking at the refused run.
"""

from __future__ import annotations

from pydantic import BaseModel

from llm_platform.targets.base import CapacityReport
from llm_platform.targets.local.replicas import LOCAL_SERVER_OVERHEAD_BYTES, MIB


class CheckEvidence(BaseModel):
    """The latest result of one staging check, as the gate saw it."""

    name: str
    executed: bool
    passed: bool
    current: bool  # judged the latest staging materialization (not a stale one)
    description: str | None = None


class GateItem(BaseModel):
    """One condition of the gate."""

    name: str
    ok: bool
    reason: str


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


def local_capacity_item(
    report: CapacityReport, *, artifact_bytes: int, revisions: int = 2
) -> GateItem:
    """Can this machine run ``revisions`` servers of the artifact side by side (blue-green)?

    The configured GPU and memory requests describe a cluster node; the local runtime cannot
    reserve them, so it checks what its own servers really need against available memory.
    """
    need = revisions * (LOCAL_SERVER_OVERHEAD_BYTES + 2 * artifact_bytes)
    avail = report.memory_available_bytes
    detail = (
        f"need {need / MIB:.0f} MiB for {revisions} local servers, "
        f"{avail / MIB:.0f} MiB available; GPUs "
        + ("enforced" if report.gpus_enforced else "not enforced locally")
    )
    return GateItem(name="capacity", ok=avail >= need, reason=detail)
