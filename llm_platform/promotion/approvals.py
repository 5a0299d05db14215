"""Promotion approvals: the entries of ``approvals/<model>.yaml`` and what they claim.

An approval is an entry in ``approvals/<model>.yaml`` of the models repository, reviewed through
pull requests and picked up by the git sensor::

    approvals:
      - environment: production
        version: 1.0.0
        digest: 3f2a9c0d1e4b...   # the full sha256 hex, or a prefix of at least 12 characters
        approver: alice            # or alice@example.com
        approved_at: 2026-11-28T10:00:00Z
        comment: load test reviewed

An entry is only a claim. It counts when the commit that introduced it in its current form is
SSH-signed by the claimed approver's key in the trust root (:mod:`.trust_root`, found by
:mod:`.approval_history`) and it passes the rule of :func:`.approval_rule.find_approval`;
:func:`.approval_check.check_approval` puts the pieces together. This module parses and models.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from llm_platform.common.digest import bare_digest
from llm_platform.common.repo_layout import approvals_path
from llm_platform.config.problems import ConfigError
from llm_platform.config.pydantic_problems import sort_problems, validation_problems
from llm_platform.config.yaml_loader import key_lines, load_mapping
from llm_platform.gitops import GitRepo
from llm_platform.gitops.runner import GitPathNotFoundError

MIN_DIGEST_PREFIX = 12
_HEX = re.compile(r"^[0-9a-f]+$")

ApprovalSource = Literal["git", "ui"]

#: What git's ``%G?`` codes mean for an approval (``G`` is the only one that counts).
SIGNATURE_STATES = {
    "G": "has a good signature by a key in the trust root",
    "B": "has a bad signature",
    "U": "is signed by a key that is not in the trust root",
    "X": "has an expired signature",
    "Y": "is signed by an expired key",
    "R": "is signed by a revoked key",
    "E": "has a signature that cannot be checked",
    "N": "is not signed",
}


def normalise_digest(value: str) -> str:
    """Lower-case hex, optional ``sha256:`` prefix stripped, 12..64 characters."""
    digest = bare_digest(value)
    if not _HEX.match(digest):
        raise ValueError("digest must be sha256 hex (optionally prefixed with 'sha256:')")
    if len(digest) < MIN_DIGEST_PREFIX:
        raise ValueError(
            f"digest prefix {digest!r} is too short: at least {MIN_DIGEST_PREFIX} hex characters"
        )
    if len(digest) > 64:
        raise ValueError(f"digest has {len(digest)} hex characters; a sha256 has 64")
    return digest


class CommitSignature(BaseModel):
    """A commit's author and its signature as git verified it against the trust root.

    Attributes:
        commit: Full SHA.
        status: git's ``%G?`` code (see :data:`SIGNATURE_STATES`).
        signer: The trust root's principal for the key (git's ``%GS``), only for ``G``.
        author_email: The commit's author e-mail (``%ae``; not verified by itself).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    commit: str
    status: str
    signer: str | None = None
    author_email: str = ""

    @property
    def good(self) -> bool:
        """Signed by a key in the trust root, and the signature verified."""
        return self.status == "G" and bool(self.signer)

    def describe(self) -> str:
        """``commit 3f2a9c0d1e4b is not signed`` and the like."""
        state = SIGNATURE_STATES.get(self.status, f"has signature state {self.status!r}")
        by = f" ({self.signer})" if self.good else ""
        return f"commit {self.commit[:12]} {state}{by}"


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
        return normalise_digest(value) if isinstance(value, str) else value


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
        introduced_by: The commit that introduced the entry in its current form, with its
            verified signature; None until :mod:`.approval_history` has looked it up.
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
    introduced_by: CommitSignature | None = None

    @field_validator("digest", mode="before")
    @classmethod
    def _digest(cls, value: Any) -> Any:
        return normalise_digest(value) if isinstance(value, str) else value

    @field_validator("approved_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


class ApprovalDecision(BaseModel):
    """Whether a candidate may be promoted as far as approvals are concerned, and why.

    ``reason`` is one line; ``reasons`` lists every reason of a refusal (one per problem).
    """

    model_config = ConfigDict(frozen=True)

    approved: bool
    approval: Approval | None = None
    reason: str
    reasons: list[str] = Field(default_factory=list)


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


def parse_entries(data: bytes, *, source: str) -> list[ApprovalEntry]:
    """The entries of an approvals file (raises ConfigError like :func:`parse_approvals`)."""
    return list(_validate(data, ApprovalsFile, source).approvals)


def entry_of(approval: Approval) -> ApprovalEntry:
    """The file form of an approval (what a commit of the approvals file contains)."""
    return ApprovalEntry.model_validate(
        approval.model_dump(include=set(ApprovalEntry.model_fields))
    )


__all__ = [
    "MIN_DIGEST_PREFIX",
    "SIGNATURE_STATES",
    "Approval",
    "ApprovalDecision",
    "ApprovalEntry",
    "ApprovalSource",
    "ApprovalsFile",
    "CommitSignature",
    "entry_of",
    "load_approvals",
    "normalise_digest",
    "parse_approvals",
    "parse_entries",
]
