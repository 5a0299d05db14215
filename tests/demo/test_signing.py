"""The demo's approvers: SSH keys and a trust root that git itself verifies signatures with."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llm_platform.demo.setup import use_demo_trust_root
from llm_platform.demo.signing import ensure_demo_signers
from llm_platform.gitops import GitRepo
from llm_platform.promotion.approval_history import latest_change
from llm_platform.promotion.trust_root import load_trust_root
from llm_platform.settings import TRUSTED_SIGNERS_ENV
from tests.helpers.signing_fixtures import commit_as, git_as


def test_demo_signers_create_a_trust_root_that_git_verifies(tmp_path: Path) -> None:
    trust_root, keys = ensure_demo_signers(tmp_path / "home")
    assert sorted(keys) == ["alice", "bob"]
    assert load_trust_root(trust_root) == trust_root.resolve()
    lines = trust_root.read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["alice@example.com", "bob@example.com"]
    first = keys["alice"].read_bytes()
    assert ensure_demo_signers(tmp_path / "home")[1]["alice"].read_bytes() == first  # kept
    repo = tmp_path / "repo"
    repo.mkdir()
    git_as(repo, "bob", "init", "-q", "-b", "main")
    (repo / "models/x").mkdir(parents=True)
    (repo / "models/x/model.yaml").write_text("name: x\n")
    commit_as(repo, "bob", "x", key=keys["bob"])
    change = latest_change(GitRepo(str(repo)), "main", "models/x/", trust_root)
    assert change is not None and change.good and change.signer == "bob@example.com"


def test_the_demo_replaces_another_trust_root_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TRUSTED_SIGNERS_ENV, str(tmp_path / "operators-signers"))
    keys, ignored = use_demo_trust_root(tmp_path / "home")
    assert ignored == str(tmp_path / "operators-signers")
    trust_root = Path(os.environ[TRUSTED_SIGNERS_ENV])
    assert load_trust_root(trust_root) == trust_root.resolve()
    assert sorted(keys) == ["alice", "bob"]
    # Run again: the demo's own trust root is configured now, nothing is reported.
    assert use_demo_trust_root(tmp_path / "home")[1] is None
