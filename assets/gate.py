"""Gathers the evidence for the promotion gate from Dagster, git and the runtime."""

from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from assets.check_history import latest_check_status, latest_materialization_storage_id
from assets.names import CHECK_INTEGRATION_TESTS, CHECK_OUTPUT_QUALITY, STAGING_DEPLOYMENT
from llm_platform.common.gate_item import GateItem
from llm_platform.config import ConfigError, EnvironmentConfig
from llm_platform.gitops import GitError, GitRepo
from llm_platform.promotion import TrustRootError, check_approval
from llm_platform.promotion.approvals import Approval
from llm_platform.promotion.gate import CheckEvidence, checks_item
from llm_platform.slo import Thresholds, configured


def staging_gate_checks(objectives: Thresholds) -> tuple[str, ...]:
    """The blocking staging checks promotion depends on: integration tests, output quality and
    one per SLO objective the model's effective staging ``slo:`` configures."""
    return (
        CHECK_INTEGRATION_TESTS,
        CHECK_OUTPUT_QUALITY,
        *(o.check_name for o, _ in configured(objectives)),
    )


def staging_check_evidence(
    instance: dg.DagsterInstance, model: str, checks: Sequence[str]
) -> list[CheckEvidence]:
    """The latest result of each of ``checks``, and whether it judged the latest deploy."""
    latest = latest_materialization_storage_id(instance, STAGING_DEPLOYMENT, model)
    evidence = []
    for name in checks:
        st = latest_check_status(instance, STAGING_DEPLOYMENT, name, model)
        evidence.append(
            CheckEvidence(
                name=name,
                executed=st.executed,
                passed=st.passed,
                current=latest is not None and st.target_storage_id == latest,
                description=st.description,
            )
        )
    return evidence


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


def gate_items_markdown(items: list[GateItem]) -> str:
    """A table of the gate's conditions for the UI."""
    rows = "\n".join(f"| {i.name} | {'ok' if i.ok else 'HELD'} | {i.reason} |" for i in items)
    return "| condition | state | detail |\n|---|---|---|\n" + rows


__all__ = ["approval_item", "checks_item", "staging_check_evidence", "staging_gate_checks"]
