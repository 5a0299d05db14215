"""The models repository as a Dagster resource."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from pydantic import Field, PrivateAttr

from llm_platform.common.repo_layout import DEFAULT_BRANCH
from llm_platform.gitops import GitRepo


class ModelsRepoResource(dg.ConfigurableResource):
    """The git repository holding ``models/<name>/model.yaml`` and ``config/<env>.yaml``.

    ``location`` is a local path (read in place through git plumbing, the work tree is never
    touched) or a git URL (mirrored into a local cache clone that is fetched on every sensor tick).
    """

    location: str
    branch: str = DEFAULT_BRANCH
    cache_dir: str | None = None
    trusted_signers: str | None = Field(
        default=None,
        description="Approvals trust root: an SSH allowed_signers file outside the models repo "
        "(LLM_PLATFORM_TRUSTED_SIGNERS); unset means no approval can be verified.",
    )

    _repo: GitRepo | None = PrivateAttr(default=None)

    def repo(self) -> GitRepo:
        """The git repository (created on first use, reused afterwards)."""
        if self._repo is None:
            cache = Path(self.cache_dir) if self.cache_dir else None
            self._repo = GitRepo(self.location, branch=self.branch, cache_dir=cache)
        return self._repo

    def trust_root(self) -> Path | None:
        """The approvals trust root's path (None when not configured)."""
        return Path(self.trusted_signers) if self.trusted_signers else None
