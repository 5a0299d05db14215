"""Git change detection for the models repo: which models a push affects, read at a commit.

``GitRepo`` reads a local work tree in place or a mirrored remote through the git CLI (plumbing
only); ``GitRepo.changes`` turns one ``git diff`` into a model-level :class:`ChangeSet`.
"""

from __future__ import annotations

from llm_platform.gitops.changeset import ChangeSet, CommitInfo
from llm_platform.gitops.repo import GitRepo
from llm_platform.gitops.runner import GitError, GitPathNotFoundError

__all__ = ["ChangeSet", "CommitInfo", "GitError", "GitPathNotFoundError", "GitRepo"]
