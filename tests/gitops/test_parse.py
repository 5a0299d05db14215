"""Pure parsing of ``git diff --name-status -z`` output into model-level facts."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_platform.gitops import GitError, GitRepo
from llm_platform.gitops.changeset import model_of, parse_name_status, summarize
from llm_platform.gitops.runner import git_env
from tests.helpers.gitops_fixtures import seeded_repo


def test_parse_renames_copies_and_plain_entries() -> None:
    raw = (
        b"M\0models/a/model.yaml\0R087\0models/b/model.yaml\0models/c/model.yaml\0"
        b"C100\0models/d/x.txt\0models/e/x.txt\0D\0config/qa.yaml\0"
    )
    assert parse_name_status(raw) == [
        ("M", "models/a/model.yaml", None),
        ("R", "models/b/model.yaml", "models/c/model.yaml"),
        ("C", "models/d/x.txt", "models/e/x.txt"),
        ("D", "config/qa.yaml", None),
    ]
    summary = summarize(parse_name_status(raw))
    assert summary.yaml_renames == [("b", "c")]
    assert summary.touched_models == {"a", "b", "c", "e"}
    assert summary.environments == {"qa"}
    assert summary.unknown_presence() == {"e"}


@pytest.mark.parametrize("raw", [b"R100\0only-old\0", b"M\0", b"U\0models/a/model.yaml\0"])
def test_parse_rejects_malformed_output(raw: bytes) -> None:
    with pytest.raises(GitError):
        parse_name_status(raw)


@given(
    st.lists(st.text(alphabet=st.characters(blacklist_characters="/\0"), min_size=1), max_size=4)
)
def test_model_of_only_paths_inside_a_model_dir(parts: list[str]) -> None:
    path = "/".join(["models", *parts])
    got = model_of(path)
    if len(parts) >= 2:
        assert got == (parts[0], len(parts) == 2 and parts[1] == "model.yaml")
    else:
        assert got is None


def test_git_env_ignores_callers_git_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = seeded_repo(tmp_path / "mine", names=("mine",))
    other = seeded_repo(tmp_path / "other", names=("other",))
    monkeypatch.setenv("GIT_DIR", str(other.path / ".git"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(other.path / ".git" / "index"))
    env = git_env()
    assert "GIT_DIR" not in env and env["GIT_TERMINAL_PROMPT"] == "0"
    repo = GitRepo(str(mine.path))
    assert repo.models_at(repo.head()) == {"mine"}


@pytest.mark.parametrize("branch", ["", "-x", "a..b", "a b", "refs/heads/x~1", "x.lock"])
def test_invalid_branch_names(tmp_path: Path, branch: str) -> None:
    work = seeded_repo(tmp_path / "r", names=("a",))
    with pytest.raises(GitError, match="invalid branch name"):
        GitRepo(str(work.path), branch=branch)
