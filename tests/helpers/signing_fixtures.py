"""Real SSH signing keys, a trust root and signed commits for the approvals tests."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from llm_platform.demo.signing import create_ssh_key, demo_email, signing_options
from llm_platform.demo.signing import write_allowed_signers as write_trust_root
from tests.helpers.gitops_fixtures import git_env

#: In the trust root: alice and bob (approvers), carol and dave (trusted, not approvers; dave
#: makes the model changes others approve).
TRUSTED = ("alice", "bob", "carol", "dave")
#: Has a key, but it is not in the trust root.
UNTRUSTED = ("mallory",)


def require_signing_tools() -> None:
    """Fail (never skip) when git or ssh-keygen is missing."""
    for tool, package in (("git", "git"), ("ssh-keygen", "openssh-client")):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is required for the approvals tests (Debian: {package})")


@dataclass(frozen=True)
class Signers:
    """Private keys by name, and the trust root listing :data:`TRUSTED`."""

    keys: dict[str, Path]
    trust_root: Path


def make_signers(directory: Path) -> Signers:
    require_signing_tools()
    keys = {
        name: create_ssh_key(directory / f"{name}_ed25519", comment=demo_email(name))
        for name in (*TRUSTED, *UNTRUSTED)
    }
    trust_root = write_trust_root(
        directory / "allowed_signers", {demo_email(n): keys[n] for n in TRUSTED}
    )
    return Signers(keys=keys, trust_root=trust_root)


@pytest.fixture(scope="session")
def signers(tmp_path_factory: pytest.TempPathFactory) -> Signers:
    """Keys for :data:`TRUSTED` and :data:`UNTRUSTED`, and the trust root (never modified)."""
    return make_signers(tmp_path_factory.mktemp("keys"))


def git_as(repo: Path, name: str, *args: str, key: Path | None = None) -> str:
    """Run git in ``repo`` as ``name <name@example.com>``, signing commits with ``key``."""
    env = git_env(name, demo_email(name))
    options = signing_options(key) if key else []
    proc = subprocess.run(
        ["git", "-C", str(repo), *options, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout.strip()


def commit_as(
    repo: Path, name: str, message: str, *, key: Path | None = None, author: str | None = None
) -> str:
    """Commit everything in ``repo`` as ``name``; SSH-signed when ``key`` is given.

    ``author`` is what ``git commit --author`` would claim (anyone can type any name there).
    """
    git_as(repo, name, "add", "-A")
    claimed = ["--author", f"{author} <{demo_email(author)}>"] if author else []
    git_as(
        repo,
        name,
        "commit",
        "-q",
        "--allow-empty",
        *claimed,
        *(["-S"] if key else []),
        "-m",
        message,
        key=key,
    )
    return git_as(repo, name, "rev-parse", "HEAD")


def approval_entry(
    *,
    digest: str,
    approver: str = "alice",
    version: str = "1.0.0",
    env: str = "production",
    comment: str | None = None,
) -> str:
    """One block-style entry of ``approvals/<model>.yaml``."""
    text = (
        f"  - environment: {env}\n    version: {version}\n    digest: {digest}\n"
        f"    approver: {approver}\n    approved_at: '2026-11-28T10:00:00Z'\n"
    )
    return text + (f"    comment: {comment}\n" if comment else "")
