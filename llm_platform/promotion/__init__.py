"""Promotion: approvals, the promotion ledger (aliases + history).

Other modules of this package (promotion strategies) may add their own exports below.
"""

from __future__ import annotations

from llm_platform.promotion.approval_check import check_approval
from llm_platform.promotion.approval_rule import approval_from_run_config, find_approval
from llm_platform.promotion.approvals import (
    Approval,
    ApprovalDecision,
    CommitSignature,
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
from llm_platform.promotion.trust_root import TrustRootError

__all__ = [
    "EVENT_KINDS",
    "AliasTarget",
    "Approval",
    "ApprovalDecision",
    "CommitSignature",
    "EventKind",
    "Ledger",
    "LedgerError",
    "LedgerEvent",
    "TrustRootError",
    "approval_from_run_config",
    "check_approval",
    "find_approval",
    "load_approvals",
    "parse_approvals",
    "previous_alias",
]
