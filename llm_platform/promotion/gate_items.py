"""The promotion gate's items that git and the ledger decide: a signed approval, the rollback
hold. Pure decisions over the models repo and the ledger, no Dagster."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from llm_platform.common.gate_item import GateItem
from llm_platform.config import ConfigError, EnvironmentConfig
from llm_platform.config.environments import PRODUCTION
from llm_platform.gitops import GitError, GitRepo
from llm_platform.promotion.approval_check import check_approval
from llm_platform.promotion.approvals import Approval
from llm_platform.promotion.ledger import Ledger
from llm_platform.promotion.rollback_hold import latest_model_commit, rollback_hold_item
from llm_platform.promotion.trust_root import TrustRootError


def approval_item(
    *,
    repo: GitRepo,
    head: str,
    env: EnvironmentConfig,
    model: str,
    version: str,
    digest: str,
    trust_root: Path | None,
    approver: str | None,
    comment: str,
) -> tuple[GateItem, Approval | None]:
    """A verified approval from ``approvals/<model>.yaml`` at head (``check_approval``: signed
    by the approver's key in the trust root, four eyes). A UI launch's ``approver`` is judged
    too and never counts; a missing or unusable trust root is a configuration error."""
    try:
        decision = check_approval(
            repo,
            head,
            env=env,
            model=model,
            version=version,
            digest=digest,
            trust_root=trust_root,
            ui_approver=approver,
            ui_comment=comment,
        )
    except (TrustRootError, ConfigError, GitError) as exc:
        return GateItem(name="approval", ok=False, reason=f"configuration error: {exc}"), None
    return GateItem(name="approval", ok=decision.approved, reason=decision.reason), (
        decision.approval
    )


def rollback_hold(
    model: str, *, version: str, digest: str, repo: GitRepo, head: str, ledger: Ledger
) -> GateItem:
    """Whether ``digest`` was rolled back from production since the model's latest commit or
    approval (:func:`~llm_platform.promotion.rollback_hold.rollback_hold_item`)."""
    renewed = latest_model_commit(repo, head, model)
    return rollback_hold_item(
        ledger.history(
            model,
            env=PRODUCTION,
            since=datetime.fromtimestamp(renewed.timestamp, UTC) if renewed else None,
        ),
        env=PRODUCTION,
        version=version,
        digest=digest,
        renewed_by=renewed,
    )
