"""A version rolled back from an environment stays out of it until it is named again.

After a rollback (an SLO-driven or manual one, or a rollout its own analysis rolled back) the
staging deployment of that version is still there, its checks still pass, and the promotion
automation would promote it again after every staging pass. The gate refuses such a digest
until a commit newer than the rollback names the model again: a change to
``models/<model>/`` or a new approval in ``approvals/<model>.yaml``. Pure decisions; the git
lookup is :func:`latest_model_commit`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from llm_platform.common.gate_item import GateItem
from llm_platform.common.repo_layout import MODELS_DIR, approvals_path
from llm_platform.gitops import GitRepo
from llm_platform.gitops.changeset import CommitInfo
from llm_platform.gitops.runner import run_git
from llm_platform.promotion.ledger import LedgerEvent

#: The gate item's name (the production asset's gate table, the ledger's refusal evidence).
ROLLBACK_HOLD = "rolled back"


def rolled_back_digest(event: LedgerEvent) -> str | None:
    """The digest a ``rolled_back`` event took out of service, or None for other events.

    A rollback of a serving version records what it restored (``digest``) and what it rolled
    back from (``evidence.from``); a rollout its strategy rolled back records the new digest
    itself, with the rollout's steps (``evidence.rollout``).
    """
    if event.kind != "rolled_back":
        return None
    evidence: dict[str, Any] = event.evidence or {}
    origin = evidence.get("from")
    if isinstance(origin, dict) and origin.get("digest"):
        return str(origin["digest"])
    if "rollout" in evidence:
        return event.digest
    return None


def last_rollback_of(history: list[LedgerEvent], *, env: str, digest: str) -> LedgerEvent | None:
    """The newest event of ``history`` (any order) that rolled ``digest`` back from ``env``."""
    found = [e for e in history if e.env == env and rolled_back_digest(e) == digest]
    return max(found, key=lambda e: e.time) if found else None


def rollback_hold_item(
    history: list[LedgerEvent],
    *,
    env: str,
    version: str,
    digest: str,
    renewed_by: CommitInfo | None,
) -> GateItem:
    """Whether ``digest`` may go to ``env`` again after a rollback.

    Args:
        history: the model's ledger events (those since ``renewed_by`` suffice).
        env: the target environment.
        version: the version being promoted (for the reason).
        digest: the digest being promoted.
        renewed_by: the newest commit that changed the model's files or its approvals (None:
            none found).
    """
    rollback = last_rollback_of(history, env=env, digest=digest)
    if rollback is None:
        since = f" since {renewed_by.sha[:12]} ({renewed_by.subject})" if renewed_by else ""
        return GateItem(name=ROLLBACK_HOLD, ok=True, reason=f"{digest[:12]} not rolled back{since}")
    when = rollback.time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    what = f"{version} ({digest[:12]}) was rolled back from {env} at {when}"
    why = f": {rollback.reason}" if rollback.reason else ""
    renewed_at = (
        datetime.fromtimestamp(renewed_by.timestamp, UTC) if renewed_by is not None else None
    )
    # Commit times are whole seconds (truncated): a commit in the rollback's own second may
    # count as older, never the other way round (fails closed).
    if renewed_by is not None and renewed_at is not None and renewed_at >= rollback.time:
        return GateItem(
            name=ROLLBACK_HOLD,
            ok=True,
            reason=f"{what}; named again by {renewed_by.sha[:12]} ({renewed_by.subject})",
        )
    return GateItem(
        name=ROLLBACK_HOLD,
        ok=False,
        reason=f"{what}{why}; a new commit to the model or a new approval must name it again",
    )


def latest_model_commit(repo: GitRepo, head: str, model: str) -> CommitInfo | None:
    """The newest commit reachable from ``head`` that changed the model or its approvals.

    Raises:
        GitError: git failed.
    """
    paths = [f"{MODELS_DIR}/{model}/", approvals_path(model)]
    out = run_git(
        repo.git_dir,
        ["log", "-1", "--no-show-signature", "--format=%H", head, "--", *paths],
        where=repo.location,
    ).stdout.strip()
    return repo.commit_info(out.decode()) if out else None
