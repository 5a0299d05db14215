"""Promotion approvals: who approved which model version and digest into which environment.

Approvals come from two places, and both obey the same rule (:func:`find_approval`):

* ``approvals/<model>.yaml`` in the models repository, reviewed through pull requests and
  picked up by the git sensor (``source="git"``)::

      approvals:
        - environment: production
          version: 1.0.0
          digest: 3f2a9c0d1e4b...   # the full sha256 hex, or a prefix of at least 12 characters
          approver: alice
          approved_at: 2026-11-28T10:00:00Z
          comment: load test reviewed

* a UI launch whose run config carries ``{approver, comment}`` (``source="ui"``), see
  :func:`approval_from_run_config`.

An approval counts only when it names the same model, version and digest as the candidate, the
environment by name, and an approver listed in that environment's ``approvers``. Everything else
is refused with a reason that says exactly what did not match (gates fail closed).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from llm_platform.config.problems import ConfigError
from llm_platform.config.pydantic_problems import sort_problems, validation_problems
from llm_platform.config.schema import EnvironmentConfig
from llm_platform.config.yaml_loader import key_lines, load_mapping
from llm_platform.gitops import GitRepo
from llm_platform.gitops.runner import GitPathNotFoundError

MIN_DIGEST_PREFIX = 12
_HEX = re.compile(r"^[0-9a-f]+$")
_FULL_DIGEST = re.compile(r"^[0-9a-f]{64}$")

ApprovalSource = Literal["git", "ui"]


def approvals_path(model: str) -> str:
    """Path of a model's approvals file inside the models repository."""
    return f"approvals/{model}.yaml"


def _normalise_digest(value: str) -> str:
    """Lower-case hex, optional ``sha256:`` prefix stripped, 12..64 characters."""
    digest = value.strip().lower().removeprefix("sha256:")
    if not _HEX.match(digest):
        raise ValueError("digest must be sha256 hex (optionally prefixed with 'sha256:')")
    if len(digest) < MIN_DIGEST_PREFIX:
        raise ValueError(
            f"digest prefix {digest!r} is too short: at least {MIN_DIGEST_PREFIX} hex characters"
        )
    if len(digest) > 64:
        raise ValueError(f"digest has {len(digest)} hex characters; a sha256 has 64")
    return digest


class ApprovalEntry(BaseModel):
    """One entry of ``approvals/<model>.yaml`` (the file form, without the model name)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    environment: str = Field(min_length=1)
    version: str = Field(min_length=1)
    digest: str
    approver: str = Field(min_length=1)
    approved_at: AwareDatetime
    comment: str | None = None

    @field_validator("digest", mode="before")
    @classmethod
    def _digest(cls, value: Any) -> Any:
        return _normalise_digest(value) if isinstance(value, str) else value


class ApprovalsFile(BaseModel):
    """The whole ``approvals/<model>.yaml`` file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    approvals: list[ApprovalEntry]


class Approval(BaseModel):
    """An approval of one model version + digest into one environment.

    Attributes:
        environment: Environment name (``config/<env>.yaml``'s ``environment``).
        model: Model name.
        version: Model version.
        digest: Artifact sha256 (64 hex) or a prefix of at least 12 hex characters.
        approver: Who approved; must be in the environment's ``approvers`` to count.
        approved_at: When (UTC).
        source: ``git`` (approvals file) or ``ui`` (run config of a UI launch).
        comment: Free text.
        origin: Where it was read from, e.g. ``approvals/llama.yaml@<commit>`` (audit trail).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    environment: str = Field(min_length=1)
    model: str = Field(min_length=1)
    version: str = Field(min_length=1)
    digest: str
    approver: str = Field(min_length=1)
    approved_at: AwareDatetime
    source: ApprovalSource
    comment: str | None = None
    origin: str | None = None

    @field_validator("digest", mode="before")
    @classmethod
    def _digest(cls, value: Any) -> Any:
        return _normalise_digest(value) if isinstance(value, str) else value

    @field_validator("approved_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


class ApprovalDecision(BaseModel):
    """Whether a candidate may be promoted as far as approvals are concerned, and why."""

    model_config = ConfigDict(frozen=True)

    approved: bool
    approval: Approval | None = None
    reason: str


def _validate(data: bytes, model_cls: type[ApprovalsFile], source: str) -> ApprovalsFile:
    document = load_mapping(data, source=source)
    try:
        parsed = model_cls.model_validate(document.data)
    except ValidationError as exc:
        lines = key_lines(document.text)
        problems = document.problems + validation_problems(exc, model_cls, lines, source)
        raise ConfigError(sort_problems(problems)) from None
    if document.problems:
        raise ConfigError(document.problems)
    return parsed


def parse_approvals(
    data: bytes, *, model: str, source: str, commit: str | None = None
) -> list[Approval]:
    """Validate the bytes of ``approvals/<model>.yaml``.

    Args:
        data: Raw file content (e.g. a blob read from git at a commit).
        model: The model the file belongs to (its file name).
        source: Path shown in problems and recorded as the approvals' origin.
        commit: The commit the file was read at, recorded in ``origin`` when given.

    Returns:
        One :class:`Approval` per entry, ``source="git"``.

    Raises:
        ConfigError: With every problem (line, field, message) found in the file.
    """
    parsed = _validate(data, ApprovalsFile, source)
    origin = f"{source}@{commit}" if commit else source
    return [
        Approval(model=model, source="git", origin=origin, **entry.model_dump())
        for entry in parsed.approvals
    ]


def load_approvals(repo: GitRepo, commit: str, model: str) -> list[Approval]:
    """Read a model's approvals file from the models repository at ``commit``.

    A missing file means "no approvals" (an empty list, which refuses promotion where an
    approval is required); an unknown commit or unreadable file is an error.

    Raises:
        GitError: The commit is unknown or the file cannot be read.
        ConfigError: The file is invalid.
    """
    sha = repo.resolve(commit)
    path = approvals_path(model)
    try:
        data = repo.read_file(sha, path)
    except GitPathNotFoundError:
        return []
    return parse_approvals(data, model=model, source=path, commit=sha)


class RunConfigApproval(BaseModel):
    """The approval part of a UI launch's run config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    approver: str = Field(min_length=1)
    comment: str | None = None


def approval_from_run_config(
    run_config: Mapping[str, Any],
    *,
    env: EnvironmentConfig,
    model: str,
    version: str,
    digest: str,
    now: datetime | None = None,
) -> ApprovalDecision:
    """Turn ``{approver, comment}`` from a UI launch into an approval of the candidate.

    The approval names exactly the candidate (model, version, full digest) and is judged by
    the same rule as approvals from git (:func:`find_approval`).

    Args:
        run_config: The mapping with ``approver`` and optional ``comment``.
        env: The target environment.
        model: Candidate model name.
        version: Candidate version.
        digest: Candidate digest (full sha256 hex).
        now: Approval time (default: the current UTC time).

    Returns:
        The decision; ``decision.approval`` is the UI approval when it counts.

    Raises:
        ConfigError: The run config is malformed (unknown keys, missing approver).
    """
    source = "run config"
    try:
        parsed = RunConfigApproval.model_validate(dict(run_config))
    except ValidationError as exc:
        problems = validation_problems(exc, RunConfigApproval, {}, source)
        raise ConfigError(sort_problems(problems)) from None
    approval = Approval(
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
    return find_approval([approval], env=env, model=model, version=version, digest=digest)


def _digest_matches(approved: str, candidate: str) -> bool:
    return candidate.startswith(approved)


def find_approval(
    approvals: Iterable[Approval],
    *,
    env: EnvironmentConfig,
    model: str,
    version: str,
    digest: str,
    known_digests: Iterable[str] | None = None,
) -> ApprovalDecision:
    """Decide whether an approval allows promoting ``model`` ``version`` ``digest`` into ``env``.

    The newest authorized approval that matches model, version, digest (full, or a prefix of at
    least 12 hex characters) and environment wins. A prefix that matches more than one of
    ``known_digests`` (e.g. every digest registered for that version) is ambiguous and refused.

    Args:
        approvals: Candidate approvals (git and/or UI).
        env: The target environment (its name, ``approvers`` and ``approval_required``).
        model: Candidate model.
        version: Candidate version.
        digest: Candidate digest, full 64-character sha256 hex.
        known_digests: Other digests that exist for this model version, to detect ambiguity.

    Returns:
        ``approved=True`` with the approval, or with reason ``approval not required`` when the
        environment does not require one; otherwise ``approved=False`` with the reason.

    Raises:
        ValueError: ``digest`` is not a full sha256 hex digest.
    """
    digest = digest.lower().removeprefix("sha256:")
    if not _FULL_DIGEST.match(digest):
        raise ValueError(f"candidate digest {digest!r} is not a full sha256 hex digest")
    name = env.environment
    if not env.deployment.approval_required:
        return ApprovalDecision(approved=True, reason="approval not required")
    if not env.approvers:
        return ApprovalDecision(
            approved=False,
            reason=f"environment {name!r} requires an approval but lists no approvers",
        )
    known = {d.lower() for d in known_digests or ()} | {digest}
    mine = [a for a in approvals if a.model == model]
    in_env = [a for a in mine if a.environment == name]
    same_version = [a for a in in_env if a.version == version]
    matching = [a for a in same_version if _digest_matches(a.digest, digest)]
    what = f"{model} {version} (digest {digest[:12]}) into {name!r}"
    if not matching:
        return ApprovalDecision(
            approved=False, reason=_miss_reason(what, mine, in_env, same_version)
        )
    unambiguous = [a for a in matching if sum(k.startswith(a.digest) for k in known) == 1]
    if not unambiguous:
        prefixes = ", ".join(sorted({a.digest for a in matching}))
        return ApprovalDecision(
            approved=False,
            reason=f"approval digest prefix {prefixes} for {what} is ambiguous: it matches "
            "more than one registered digest; approve the full digest",
        )
    allowed = [a for a in unambiguous if a.approver in env.approvers]
    if not allowed:
        names = ", ".join(sorted({a.approver for a in unambiguous}))
        return ApprovalDecision(
            approved=False,
            reason=f"approver {names} is not allowed to approve {what} "
            f"(allowed approvers: {', '.join(env.approvers)})",
        )
    best = max(allowed, key=lambda a: a.approved_at)
    return ApprovalDecision(
        approved=True,
        approval=best,
        reason=f"approved by {best.approver} at {best.approved_at.isoformat()} ({best.source})",
    )


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
    "MIN_DIGEST_PREFIX",
    "Approval",
    "ApprovalDecision",
    "ApprovalEntry",
    "ApprovalSource",
    "ApprovalsFile",
    "RunConfigApproval",
    "approval_from_run_config",
    "approvals_path",
    "find_approval",
    "load_approvals",
    "parse_approvals",
]
