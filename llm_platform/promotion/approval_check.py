"""One function for the approval gate: read, trace, verify and judge (CLI and production gate)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from llm_platform.common.digest import bare_digest
from llm_platform.common.repo_layout import MODELS_DIR
from llm_platform.config.at_commit import model_config_at
from llm_platform.config.environment import EnvironmentConfig
from llm_platform.config.problems import ConfigError
from llm_platform.gitops import GitError, GitRepo
from llm_platform.promotion.approval_history import latest_change, with_provenance
from llm_platform.promotion.approval_rule import find_approval, names_candidate, ui_approval
from llm_platform.promotion.approvals import ApprovalDecision, load_approvals
from llm_platform.promotion.trust_root import load_trust_root


def change_paths(repo: GitRepo, commit: str, model: str) -> list[str]:
    """The repo paths whose changes are changes of ``model`` (four eyes): its directory, and
    the in-repo weights its ``source.uri`` names at ``commit`` (a reviewer who swaps the weights
    changed the model as much as one who edits ``model.yaml``)."""
    paths = [f"{MODELS_DIR}/{model}/"]
    try:
        config = model_config_at(repo, commit, model)
    except (ConfigError, GitError):
        return paths  # no readable config at the commit: the directory is all there is
    source = config.source
    if (
        source is not None
        and source.type == "local"
        and not PurePosixPath(source.uri).is_absolute()
    ):
        paths.append(str(PurePosixPath(source.uri)))
    return paths


def check_approval(
    repo: GitRepo,
    commit: str,
    *,
    env: EnvironmentConfig,
    model: str,
    version: str,
    digest: str,
    trust_root: Path | None,
    ui_approver: str | None = None,
    ui_comment: str | None = None,
    known_digests: Iterable[str] | None = None,
) -> ApprovalDecision:
    """Whether ``model`` ``version`` ``digest`` may enter ``env`` by the approvals at ``commit``.

    Reads ``approvals/<model>.yaml`` at ``commit``, finds the commit that introduced each entry,
    has git verify its SSH signature against ``trust_root``, looks up the latest change of the
    model (``models/<model>/`` and its in-repo weights: :func:`change_paths`) with its verified
    signature (four eyes) and applies :func:`.approval_rule.find_approval`. A UI
    launch's ``ui_approver`` is judged too, and never counts (the refusal says why).

    Args:
        repo: The models repository (synced by the caller when it is remote).
        commit: The commit whose approvals count (the branch head).
        env: The target environment's configuration at ``commit``.
        model: Candidate model.
        version: Candidate version.
        digest: Candidate digest (full sha256 hex).
        trust_root: ``LLM_PLATFORM_TRUSTED_SIGNERS`` (None when unset).
        ui_approver: The approver typed into a UI launch, if any.
        ui_comment: The comment of that launch.
        known_digests: Other digests of this model version (ambiguous prefixes are refused).

    Returns:
        The decision; when refused, ``reasons`` lists every reason.

    Raises:
        TrustRootError: approval is required and the trust root is unset or unusable.
        ConfigError: the approvals file at ``commit`` is invalid, or the launch's config is.
        GitError: the commit is unknown or git failed.
        ValueError: ``digest`` is not a full sha256 hex digest.
    """
    if not env.deployment.approval_required:
        return ApprovalDecision(approved=True, reason="approval not required")
    root = load_trust_root(trust_root, repo_dir=None if repo.is_remote else repo.git_dir)
    head = repo.resolve(commit)
    wanted = bare_digest(digest)
    # Only entries naming the candidate can approve it: trace and verify just those.
    loaded = load_approvals(repo, head, model)
    named = [
        names_candidate(a, environment=env.environment, version=version, digest=wanted)
        for a in loaded
    ]
    candidates = [a for a, hit in zip(loaded, named, strict=True) if hit]
    others = [a for a, hit in zip(loaded, named, strict=True) if not hit]
    approvals = with_provenance(repo, head, model, candidates, root) + others
    if ui_approver:
        claim = {"approver": ui_approver, "comment": ui_comment or None}
        approvals.append(ui_approval(claim, env=env, model=model, version=version, digest=digest))
    return find_approval(
        approvals,
        env=env,
        model=model,
        version=version,
        digest=digest,
        model_change=latest_change(repo, head, change_paths(repo, head, model), root),
        known_digests=known_digests,
    )


__all__ = ["change_paths", "check_approval"]
