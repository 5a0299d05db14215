"""One condition of a gate (the promotion gate's checks, approval, capacity, rollback hold).

A leaf type: the targets' capacity checks give one, and the promotion gate combines them.
"""

from __future__ import annotations

from pydantic import BaseModel


class GateItem(BaseModel):
    """One condition of the gate."""

    name: str
    ok: bool
    reason: str
