"""From two commits to a model-level ChangeSet, at the cost of about one ``git diff``."""

from __future__ import annotations

import functools
import logging
from typing import Protocol

from llm_platform.gitops.changeset import ChangeSet, summarize
from llm_platform.gitops.runner import is_full_sha

logger = logging.getLogger(__name__)


class RepoReader(Protocol):
    """What change detection reads from a repository (implemented by ``GitRepo``; declared
    here so that this module does not import the repo module that calls it)."""

    location: str

    def resolve(self, commit: str) -> str:
        """The full SHA of ``commit``."""
        ...

    def models_at(self, commit: str) -> set[str]:
        """Names of the models present at ``commit``."""
        ...

    def ancestry_and_diff(
        self, base: str, head: str
    ) -> tuple[bool | None, list[tuple[str, str, str | None]] | None]:
        """Whether ``base`` is an ancestor of ``head``, and the name-status diff."""
        ...

    def has_models(self, commit: str, names: set[str]) -> dict[str, bool]:
        """Whether each of ``names`` has a model config at ``commit``."""
        ...


def detect_changes(repo: RepoReader, since: str | None, head: str) -> ChangeSet:
    """The changes from ``since`` to ``head`` in ``repo`` (see :meth:`GitRepo.changes`).

    Git commands run: one ``merge-base --is-ancestor`` and one ``diff`` (concurrently), and one
    ``cat-file --batch-check`` when a touched model directory's ``model.yaml`` did not change.
    ``present`` is computed (one ``ls-tree``) only when read.

    Raises:
        GitError: ``head`` is unknown, or git failed.
    """
    head_sha = head if is_full_sha(head) else repo.resolve(head)
    if since is None:
        present = repo.models_at(head_sha)
        return ChangeSet(
            base=None,
            head=head_sha,
            full_rescan=True,
            reason="first run",
            added=set(present),
            present=present,
        )
    # The ancestry check and the diff are independent: running them at the same time makes an
    # incremental push cost one git diff of wall time.
    ancestry, entries = repo.ancestry_and_diff(since, head_sha)
    if ancestry is None:
        head_sha = repo.resolve(head_sha)  # raises when head itself is the unknown commit
    loader = functools.partial(repo.models_at, head_sha)
    if ancestry is not True:
        reason = f"force-push: {since[:12]} is not an ancestor of {head_sha[:12]}"
        if ancestry is None:
            reason += " (the commit is not in the repository)"
        logger.warning("models repo %s: %s; rescanning every model", repo.location, reason)
        if ancestry is None:
            return ChangeSet.lazy(
                loader=loader, base=since, head=head_sha, full_rescan=True, reason=reason
            )
        assert entries is not None
        return _diff_changes(
            repo, entries, since, head_sha, loader, full_rescan=True, reason=reason
        )
    if since == head_sha:
        return ChangeSet.lazy(
            loader=loader, base=since, head=head_sha, full_rescan=False, reason="no new commits"
        )
    assert entries is not None
    return _diff_changes(repo, entries, since, head_sha, loader, full_rescan=False, reason=None)


def _diff_changes(
    repo: RepoReader,
    entries: list[tuple[str, str, str | None]],
    base: str,
    head: str,
    loader: functools.partial[set[str]],
    *,
    full_rescan: bool,
    reason: str | None,
) -> ChangeSet:
    summary = summarize(entries)
    unknown = summary.unknown_presence() | (summary.approvals - set(summary.yaml_at_head))
    hints = repo.has_models(head, unknown)
    added: set[str] = set()
    modified: set[str] = set()
    deleted: set[str] = set()
    for name in summary.touched_models:
        # A model.yaml absent from the diff existed at base exactly when it exists at head.
        at_head = summary.yaml_at_head.get(name, hints.get(name, False))
        at_base = summary.yaml_at_base.get(name, at_head)
        if at_head and at_base:
            modified.add(name)
        elif at_head:
            added.add(name)
        elif at_base:
            deleted.add(name)
    hints.update(summary.yaml_at_head)
    renamed = [(old, new) for old, new in summary.yaml_renames if old in deleted and new in added]
    if reason is None:
        reason = f"{summary.files} file{'' if summary.files == 1 else 's'} changed"
    return ChangeSet.lazy(
        loader=loader,
        presence_hints=hints,
        base=base,
        head=head,
        full_rescan=full_rescan,
        reason=reason,
        added=added,
        modified=modified,
        deleted=deleted,
        renamed=renamed,
        environments_changed=summary.environments,
        approvals_changed=summary.approvals,
    )
