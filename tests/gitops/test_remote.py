"""Remote mode: a bare "origin" mirrored into a cache clone and fetched by ``sync()``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from llm_platform.gitops import GitError, GitRepo
from tests.helpers.gitops_fixtures import WorkRepo, git, model_yaml, seeded_repo


@pytest.fixture
def origin(tmp_path: Path) -> tuple[Path, WorkRepo]:
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    work = seeded_repo(tmp_path / "dev")
    work.git("remote", "add", "origin", str(bare))
    work.git("push", "-q", "origin", "main")
    return bare, work


@pytest.mark.parametrize("scheme", ["path", "file-url"])
def test_sync_sees_pushes_and_force_pushes(
    origin: tuple[Path, WorkRepo], tmp_path: Path, scheme: str
) -> None:
    bare, work = origin
    location = str(bare) if scheme == "path" else bare.as_uri()
    cache = tmp_path / "cache"
    repo = GitRepo(location, cache_dir=cache)
    assert repo.is_remote
    with pytest.raises(GitError, match="call sync"):
        repo.head()
    repo.sync()
    first = repo.head()
    assert first == work.git("rev-parse", "main")
    assert repo.git_dir.parent == cache and (repo.git_dir / "HEAD").is_file()
    assert repo.models_at(first) == {"alpha", "beta", "gamma"}

    work.write("models/alpha/model.yaml", model_yaml("alpha", "1.2.0"))
    second = work.commit("bump alpha")
    work.git("push", "-q", "origin", "main")
    assert repo.head() == first  # not fetched yet
    repo.sync()
    assert repo.head() == second
    cs = repo.changes(first, second)
    assert cs.modified == {"alpha"} and cs.affected == {"alpha"} and not cs.full_rescan
    assert (
        repo.read_file(second, "models/alpha/model.yaml") == model_yaml("alpha", "1.2.0").encode()
    )

    work.git("reset", "-q", "--hard", first)
    work.add_model("rewritten")
    third = work.commit("rewrite history")
    work.git("push", "-q", "--force", "origin", "main")
    repo.sync()
    assert repo.head() == third
    cs = repo.changes(second, third)
    assert cs.full_rescan and cs.reason.startswith("force-push:")
    assert cs.present == {"alpha", "beta", "gamma", "rewritten"}

    # A second GitRepo on the same cache reuses the clone without fetching.
    again = GitRepo(location, cache_dir=cache)
    assert again.git_dir == repo.git_dir and again.head() == third


def test_deleted_remote_branch_is_pruned(origin: tuple[Path, WorkRepo], tmp_path: Path) -> None:
    bare, work = origin
    work.git("push", "-q", "origin", "main:release")
    repo = GitRepo(str(bare), branch="release", cache_dir=tmp_path / "cache")
    repo.sync()
    assert repo.head() == work.git("rev-parse", "main")
    work.git("push", "-q", "origin", ":release")
    repo.sync()
    with pytest.raises(GitError, match="'release' not found"):
        repo.head()


def test_read_file_fetches_commit_missing_from_cache(
    origin: tuple[Path, WorkRepo], tmp_path: Path
) -> None:
    bare, work = origin
    repo = GitRepo(str(bare), cache_dir=tmp_path / "cache")
    repo.sync()
    work.add_model("fresh")
    sha = work.commit("fresh")
    work.git("push", "-q", "origin", "main")
    # A run given a commit the sensor saw but this cache has not fetched yet.
    assert repo.read_file(sha, "models/fresh/model.yaml") == model_yaml("fresh").encode()
    assert repo.commit_info(sha).subject == "fresh"
    with pytest.raises(GitError, match="not found"):
        repo.read_file("3" * 40, "models/fresh/model.yaml")


def test_unreachable_remote_is_clear_error(tmp_path: Path) -> None:
    repo = GitRepo(f"file://{tmp_path}/missing.git", cache_dir=tmp_path / "cache")
    with pytest.raises(GitError) as info:
        repo.sync()
    assert "missing.git" in str(info.value) and "fetch" in str(info.value)


def test_cache_dir_of_another_url_is_refused(origin: tuple[Path, WorkRepo], tmp_path: Path) -> None:
    bare, _ = origin
    repo = GitRepo(str(bare), cache_dir=tmp_path / "cache")
    repo.sync()
    (repo.git_dir / "llm-platform-url").write_text("https://example.invalid/other.git\n")
    with pytest.raises(GitError, match="mirrors https://example.invalid/other.git"):
        repo.sync()


def test_cache_clone_is_bare_and_separate(origin: tuple[Path, WorkRepo], tmp_path: Path) -> None:
    bare, _ = origin
    repo = GitRepo(str(bare), cache_dir=tmp_path / "cache")
    repo.sync()
    out = subprocess.run(
        ["git", "-C", str(repo.git_dir), "rev-parse", "--is-bare-repository"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "true"
    assert repo.git_dir.resolve() != bare.resolve()
