"""The approval rule: which approval lets a candidate into an environment, and every reason why not.

An approval counts only when all of these hold (gates fail closed):

* it names the candidate's model, the environment, the version and the digest (full, or an
  unambiguous prefix of at least 12 hex characters);
* it came from git, never from a UI launch (Dagster OSS has no authenticated user, so a typed
  ``approver`` proves nothing);
* the commit that introduced it in its current form has a good SSH signature by a key in the
  trust root, and that key's principal is the claimed ``approver`` (a name without ``@`` matches
  the principal's local part);
* the approver is in the environment's ``approvers`` (same matching);
* the latest commit that changed the model (``models/<name>/`` or the in-repo weights its
  ``source.uri`` names) is signed by a key in the trust root, so that who made it is verified,
  not typed (a commit's author is whatever its committer wrote);
* the approver is neither the author nor the signer of that commit (four eyes).

This module decides from evidence already gathered (:mod:`.approval_history`); it runs no git.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llm_platform.common.digest import SHA256_HEX_PATTERN, bare_digest
from llm_platform.common.repo_layout import MODELS_DIR, approvals_path
from llm_platform.config.environment import EnvironmentConfig
from llm_platform.config.problems import ConfigError
from llm_platform.config.pydantic_problems import sort_problems, validation_problems
from llm_platform.promotion.approvals import (
    Approval,
    ApprovalDecision,
    CommitSignature,
)
from llm_platform.promotion.trust_root import principal_matches

_FULL_DIGEST = re.compile(SHA256_HEX_PATTERN)


class RunConfigApproval(BaseModel):
    """The approval part of a UI launch's run config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    approver: str = Field(min_length=1)
    comment: str | None = None


def ui_approval_refusal(approver: str, model: str) -> str:
    """Why a UI launch's ``approver`` does not count."""
    return (
        f"the UI launch's approver {approver!r} never satisfies a required approval: Dagster OSS "
        "has no authenticated user, so anyone can type any name; commit an entry to "
        f"{approvals_path(model)} signed with the approver's SSH key"
    )


def ui_approval(
    run_config: Mapping[str, Any],
    *,
    env: EnvironmentConfig,
    model: str,
    version: str,
    digest: str,
    now: datetime | None = None,
) -> Approval:
    """The claim ``{approver, comment}`` of a UI launch, as an approval of the candidate.

    :func:`find_approval` never lets it satisfy a required approval; it is kept so that the
    refusal can say who was typed.

    Raises:
        ConfigError: The run config is malformed (unknown keys, missing approver).
    """
    source = "run config"
    try:
        parsed = RunConfigApproval.model_validate(dict(run_config))
    except ValidationError as exc:
        problems = validation_problems(exc, RunConfigApproval, {}, source)
        raise ConfigError(sort_problems(problems)) from None
    return Approval(
        environment=env.environment,
        model=model,
        version=version,
        digest=digest,
        approver=parsed.approver,
        approved_at=now or datetime.now(UTC),
        source="ui",
        comment=parsed.comment,
        origin="ui launch",
    )


def approval_from_run_config(
    run_config: Mapping[str, Any],
    *,
    env: EnvironmentConfig,
    model: str,
    version: str,
    digest: str,
    now: datetime | None = None,
) -> ApprovalDecision:
    """Judge a UI launch's approval alone: refused whenever the environment requires one.

    Raises:
        ConfigError: The run config is malformed.
    """
    claim = ui_approval(run_config, env=env, model=model, version=version, digest=digest, now=now)
    return find_approval(
        [claim], env=env, model=model, version=version, digest=digest, model_change=None
    )


def names_candidate(approval: Approval, *, environment: str, version: str, digest: str) -> bool:
    """Whether ``approval`` names this environment, version and (full, lower-case) digest."""
    return (
        approval.environment == environment
        and approval.version == version
        and digest.startswith(approval.digest)
    )


def _same_person(name: str, identity: str) -> bool:
    """``name`` (bare or e-mail) names ``identity`` (bare or e-mail)."""
    if "@" in identity:
        return principal_matches(name, identity)
    if "@" in name:
        return principal_matches(identity, name)
    return name.strip().lower() == identity.strip().lower()


def _problems(
    approval: Approval, env: EnvironmentConfig, change: CommitSignature | None
) -> list[str]:
    """Every reason why a matching approval does not count (empty: it counts)."""
    if approval.source == "ui":
        return [ui_approval_refusal(approval.approver, approval.model)]
    sig = approval.introduced_by
    if sig is None:
        return ["the commit that introduced it could not be determined"]
    problems: list[str] = []
    identity = approval.approver
    if not sig.good:
        problems.append(f"introduced by {sig.describe()}")
    elif not principal_matches(approval.approver, sig.signer or ""):
        problems.append(
            f"introduced by commit {sig.commit[:12]} signed by {sig.signer}, not by the "
            f"claimed approver {approval.approver!r}"
        )
    else:
        identity = sig.signer or identity
    if not any(_same_person(allowed, identity) for allowed in env.approvers):
        problems.append(
            f"approver {identity} is not allowed to approve into {env.environment!r} "
            f"(allowed approvers: {', '.join(env.approvers)})"
        )
    models_dir = f"{MODELS_DIR}/{approval.model}/"
    if change is None:
        problems.append(f"no commit changed {models_dir}: four eyes cannot be checked")
        return problems
    if not change.good:
        # The author field is whatever the committer typed: only a verified signature says who
        # made the change, so an unsigned change could be the approver's own under a false name.
        problems.append(
            f"the latest change of {approval.model} ({change.describe()}) is not signed by a "
            "key in the trust root, so who made it cannot be verified (four eyes): commit "
            "model changes signed (git commit -S) with a trusted key"
        )
    for role, who in (("author", change.author_email), ("signer", change.signer)):
        if who and (_same_person(approval.approver, who) or _same_person(identity, who)):
            problems.append(
                f"approver {identity} is the {role} of commit {change.commit[:12]}, the latest "
                f"change of {models_dir} (four eyes: someone else must approve)"
            )
    return problems


def find_approval(
    approvals: Iterable[Approval],
    *,
    env: EnvironmentConfig,
    model: str,
    version: str,
    digest: str,
    model_change: CommitSignature | None,
    known_digests: Iterable[str] | None = None,
) -> ApprovalDecision:
    """Decide whether an approval allows promoting ``model`` ``version`` ``digest`` into ``env``.

    The newest approval that matches the candidate and passes every rule (module docstring)
    wins. A prefix that matches more than one of ``known_digests`` is ambiguous and refused.

    Args:
        approvals: Candidate approvals, with ``introduced_by`` filled in for git approvals.
        env: The target environment (its name, ``approvers`` and ``approval_required``).
        model: Candidate model.
        version: Candidate version.
        digest: Candidate digest, full 64-character sha256 hex.
        model_change: The latest commit that changed ``models/<model>/`` (four eyes); None
            when there is none, which refuses.
        known_digests: Other digests that exist for this model version, to detect ambiguity.

    Returns:
        ``approved=True`` with the approval, or with reason ``approval not required``;
        otherwise ``approved=False`` with every reason in ``reasons``.

    Raises:
        ValueError: ``digest`` is not a full sha256 hex digest.
    """
    digest = bare_digest(digest)
    if not _FULL_DIGEST.match(digest):
        raise ValueError(f"candidate digest {digest!r} is not a full sha256 hex digest")
    name = env.environment
    if not env.deployment.approval_required:
        return ApprovalDecision(approved=True, reason="approval not required")
    if not env.approvers:
        return _refused([f"environment {name!r} requires an approval but lists no approvers"])
    known = {d.lower() for d in known_digests or ()} | {digest}
    mine = [a for a in approvals if a.model == model]
    in_env = [a for a in mine if a.environment == name]
    same_version = [a for a in in_env if a.version == version]
    matching = [
        a for a in mine if names_candidate(a, environment=name, version=version, digest=digest)
    ]
    what = f"{model} {version} (digest {digest[:12]}) into {name!r}"
    if not matching:
        return _refused([_miss_reason(what, mine, in_env, same_version)])
    unambiguous = [a for a in matching if sum(k.startswith(a.digest) for k in known) == 1]
    if not unambiguous:
        prefixes = ", ".join(sorted({a.digest for a in matching}))
        return _refused(
            [
                f"approval digest prefix {prefixes} for {what} is ambiguous: it matches more "
                "than one registered digest; approve the full digest"
            ]
        )
    judged = [(a, _problems(a, env, model_change)) for a in unambiguous]
    valid = [a for a, problems in judged if not problems]
    if valid:
        best = max(valid, key=lambda a: a.approved_at)
        signer = best.introduced_by.signer if best.introduced_by else best.approver
        commit = best.introduced_by.commit[:12] if best.introduced_by else "?"
        return ApprovalDecision(
            approved=True,
            approval=best,
            reason=f"approved by {signer} at {best.approved_at.isoformat()} "
            f"(signed commit {commit})",
        )
    return _refused(
        [
            f"approval of {what} by {a.approver!r} ({a.origin or a.source}): {problem}"
            for a, problems in judged
            for problem in problems
        ]
    )


def _refused(reasons: list[str]) -> ApprovalDecision:
    return ApprovalDecision(approved=False, reason="; ".join(reasons), reasons=reasons)


def _miss_reason(
    what: str, mine: list[Approval], in_env: list[Approval], same_version: list[Approval]
) -> str:
    """Explain the closest near miss when no approval matches the candidate."""
    if same_version:
        digests = ", ".join(sorted({a.digest[:12] for a in same_version}))
        return f"no approval for {what}: approvals name other digests ({digests})"
    if in_env:
        versions = ", ".join(sorted({a.version for a in in_env}))
        return f"no approval for {what}: approvals name other versions ({versions})"
    if mine:
        envs = ", ".join(sorted({a.environment for a in mine}))
        return f"no approval for {what}: approvals exist only for other environments ({envs})"
    return f"no approval for {what}"


__all__ = [
    "RunConfigApproval",
    "names_candidate",
    "approval_from_run_config",
    "find_approval",
    "ui_approval",
    "ui_approval_refusal",
]
