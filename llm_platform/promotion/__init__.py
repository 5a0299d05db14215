"""Promotion: approvals, the promotion ledger (aliases + history).

Other modules of this package (promotion strategies) may add their own exports below.
"""

from __future__ import annotations

from llm_platform.promotion.approvals import (
    Approval,
    ApprovalDecision,
    approval_from_run_config,
    approvals_path,
    find_approval,
    load_approvals,
    parse_approvals,
)
from llm_platform.promotion.ledger import (
    EVENT_KINDS,
    AliasTarget,
    EventKind,
    Ledger,
    LedgerError,
    LedgerEvent,
    previous_alias,
)

__all__ = [
    "EVENT_KINDS",
    "AliasTarget",
    "Approval",
    "ApprovalDecision",
    "EventKind",
    "Ledger",
    "LedgerError",
    "LedgerEvent",
    "approval_from_run_config",
    "approvals_path",
    "find_approval",
    "load_approvals",
    "parse_approvals",
    "previous_alias",
]
