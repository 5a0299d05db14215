"""A models repo whose approvals are signed (or not) by real SSH keys, and the checks on it;
the ``world`` fixture (a plugin of ``tests/conftest.py``) gives each test a fresh one.

Shared by the verified-approval tests of ``check_approval``, the ``approvals check`` CLI and the
production gate's approval item.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_platform.config import EnvironmentConfig, parse_environment_config
from llm_platform.gitops import GitRepo
from llm_platform.promotion import ApprovalDecision, check_approval
from tests.helpers.signing_fixtures import Signers, commit_as, git_as

DIGEST = "ab" * 32
OTHER = "cd" * 32
PRODUCTION = """\
environment: production
namespace: production
deployment:
  strategy: blue-green
  approval_required: {required}
approvers: {approvers}
"""
MODEL = "name: llama\nversion: 1.0.0\n"


class World:
    """A models repo whose ``llama`` model was last changed by dave, signed with his key
    (trusted, not an approver: the change's verified identity)."""

    def __init__(self, path: Path, signers: Signers) -> None:
        self.path, self.signers = path, signers
        path.mkdir()
        git_as(path, "dave", "init", "-q", "-b", "main")
        self.set_env()
        self.write("models/llama/model.yaml", MODEL)
        commit_as(path, "dave", "llama 1.0.0", key=signers.keys["dave"])

    def write(self, rel: str, text: str) -> None:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def set_env(self, *, required: bool = True, approvers: str = "[alice, bob]") -> None:
        text = PRODUCTION.format(required=str(required).lower(), approvers=approvers)
        self.write("config/production.yaml", text)

    def approve(self, *entries: str, by: str, signed_by: str | None = None) -> str:
        """Write ``approvals/llama.yaml`` with ``entries`` and commit as ``by``."""
        self.write("approvals/llama.yaml", "approvals:\n" + "".join(entries))
        key = self.signers.keys[signed_by] if signed_by else None
        return commit_as(self.path, by, f"approvals by {by}", key=key)

    def head(self) -> tuple[GitRepo, str, EnvironmentConfig]:
        """The repo, its checked-out commit and the production config at that commit."""
        repo = GitRepo(str(self.path))
        head = repo.head()
        env = parse_environment_config(
            repo.read_file(head, "config/production.yaml"), source="config/production.yaml"
        )
        return repo, head, env

    def check(
        self,
        *,
        digest: str = DIGEST,
        trust_root: Path | None = None,
        ui_approver: str | None = None,
        ui_comment: str | None = None,
    ) -> ApprovalDecision:
        """``check_approval`` of llama 1.0.0 ``digest`` into production at the repo's head."""
        repo, head, env = self.head()
        return check_approval(
            repo,
            head,
            env=env,
            model="llama",
            version="1.0.0",
            digest=digest,
            trust_root=trust_root or self.signers.trust_root,
            ui_approver=ui_approver,
            ui_comment=ui_comment,
        )


@pytest.fixture
def world(tmp_path: Path, signers: Signers) -> World:
    """A fresh models repo under ``tmp_path`` (see :class:`World`)."""
    return World(tmp_path / "models", signers)
