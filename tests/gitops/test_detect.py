"""Change detection on real temporary git repositories (local work tree mode)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from llm_platform.gitops import ChangeSet, GitError, GitPathNotFoundError, GitRepo
from tests.helpers.gitops_fixtures import WorkRepo, model_yaml, seeded_repo


@pytest.fixture
def work(tmp_path: Path) -> WorkRepo:
    return seeded_repo(tmp_path / "models-repo")


@pytest.fixture
def repo(work: WorkRepo) -> GitRepo:
    return GitRepo(str(work.path))


def test_first_run_is_full_rescan_of_present_models(work: WorkRepo, repo: GitRepo) -> None:
    head = repo.head()
    assert head == work.git("rev-parse", "main")
    cs = repo.changes(None, head)
    assert cs.full_rescan and cs.reason == "first run" and cs.base is None
    assert cs.present == {"alpha", "beta", "gamma"}
    assert cs.added == cs.present == cs.affected


def test_add_model(work: WorkRepo, repo: GitRepo) -> None:
    base = repo.head()
    work.add_model("delta")
    head = work.commit("add delta")
    cs = repo.changes(base, head)
    assert not cs.full_rescan
    assert cs.reason == "2 files changed"
    assert (cs.added, cs.modified, cs.deleted) == ({"delta"}, set(), set())
    assert cs.affected == {"delta"}
    assert cs.present == {"alpha", "beta", "gamma", "delta"}


def test_modify_model_yaml_and_other_file(work: WorkRepo, repo: GitRepo) -> None:
    base = repo.head()
    work.write("models/alpha/model.yaml", model_yaml("alpha", "1.1.0"))
    work.write("models/beta/other.txt", "only a side file changed\n")
    head = work.commit("modify")
    cs = repo.changes(base, head)
    assert cs.modified == {"alpha", "beta"}
    assert cs.added == cs.deleted == set() and cs.renamed == []
    assert cs.affected == {"alpha", "beta"}


def test_delete_model_dir(work: WorkRepo, repo: GitRepo) -> None:
    base = repo.head()
    work.git("rm", "-rq", "models/gamma")
    head = work.commit("delete gamma")
    cs = repo.changes(base, head)
    assert cs.deleted == {"gamma"}
    assert cs.affected == set()
    assert cs.present == {"alpha", "beta"}


def test_rename_model_dir(work: WorkRepo, repo: GitRepo) -> None:
    base = repo.head()
    work.git("mv", "models/beta", "models/beta-v2")
    head = work.commit("rename beta")
    cs = repo.changes(base, head)
    assert cs.renamed == [("beta", "beta-v2")]
    assert cs.deleted == {"beta"} and cs.added == {"beta-v2"}
    assert cs.affected == {"beta-v2"}


def test_environment_change_affects_every_present_model(work: WorkRepo, repo: GitRepo) -> None:
    base = repo.head()
    work.write("config/staging.yaml", "environment: staging\nnamespace: llm-staging\n")
    work.write("config/qa.yaml", "environment: qa\n")
    work.git("rm", "-q", "config/production.yaml")
    head = work.commit("envs")
    cs = repo.changes(base, head)
    assert not cs.full_rescan
    assert cs.environments_changed == {"staging", "qa", "production"}
    assert cs.affected == {"alpha", "beta", "gamma"}


def test_approvals_change(work: WorkRepo, repo: GitRepo) -> None:
    base = repo.head()
    work.write("approvals/alpha.yaml", "approved_by: alice\n")
    work.write("approvals/ghost.yaml", "approved_by: bob\n")  # no such model
    head = work.commit("approve")
    cs = repo.changes(base, head)
    assert cs.approvals_changed == {"alpha", "ghost"}
    assert cs.affected == {"alpha"}
    assert cs.added == cs.modified == set()


def test_files_outside_model_dirs_are_ignored(work: WorkRepo, repo: GitRepo) -> None:
    base = repo.head()
    work.write("README.md", "changed\n")
    work.write("models/INDEX.md", "directly under models/\n")
    work.write("models/docs/notes.md", "a directory without model.yaml\n")
    work.write("config/nested/x.yaml", "not an environment\n")
    head = work.commit("docs")
    cs = repo.changes(base, head)
    assert cs.added == cs.modified == cs.deleted == set()
    assert cs.environments_changed == set() and cs.affected == set()
    assert "docs" not in cs.present


def test_unicode_and_space_in_model_dir(work: WorkRepo, repo: GitRepo) -> None:
    base = repo.head()
    work.add_model("modèle à espaces")
    head = work.commit("unicode")
    assert repo.changes(base, head).added == {"modèle à espaces"}
    assert "modèle à espaces" in repo.models_at(head)


def test_no_new_commits(repo: GitRepo) -> None:
    head = repo.head()
    cs = repo.changes(head, head)
    assert not cs.full_rescan and cs.reason == "no new commits" and cs.affected == set()


def test_merge_commit_covers_both_parents(work: WorkRepo, repo: GitRepo) -> None:
    base = repo.head()
    work.git("checkout", "-qb", "feature")
    work.write("models/beta/model.yaml", model_yaml("beta", "2.0.0"))
    work.commit("feature: beta")
    work.git("checkout", "-q", "main")
    work.write("models/alpha/model.yaml", model_yaml("alpha", "2.0.0"))
    work.commit("main: alpha")
    work.git("merge", "-q", "--no-ff", "-m", "merge feature", "feature")
    head = repo.head()
    assert len(work.git("rev-list", "--parents", "-n1", head).split()) == 3
    cs = repo.changes(base, head)
    assert cs.modified == {"alpha", "beta"} and not cs.full_rescan


def test_force_push_with_gc_is_full_rescan(
    work: WorkRepo, repo: GitRepo, caplog: pytest.LogCaptureFixture
) -> None:
    work.add_model("doomed")
    old = work.commit("to be rewritten")
    work.git("reset", "-q", "--hard", "HEAD~1")
    work.add_model("other")
    head = work.commit("rewritten")
    work.git("reflog", "expire", "--expire=now", "--all")
    work.git("gc", "-q", "--prune=now")
    assert work.git("cat-file", "-t", head) == "commit"
    assert not repo.is_ancestor(old, head)
    with caplog.at_level(logging.WARNING, logger="llm_platform.gitops"):
        cs = repo.changes(old, head)
    assert cs.full_rescan
    assert cs.reason.startswith(f"force-push: {old[:12]} is not an ancestor of {head[:12]}")
    assert cs.present == {"alpha", "beta", "gamma", "other"} == cs.affected
    assert any("force-push" in r.getMessage() for r in caplog.records)


def test_rewritten_history_known_base_reports_deletions(work: WorkRepo, repo: GitRepo) -> None:
    work.add_model("doomed")
    old = work.commit("to be rewritten")
    work.git("reset", "-q", "--hard", "HEAD~1")
    work.write("models/alpha/model.yaml", model_yaml("alpha", "3.0.0"))
    head = work.commit("rewritten")
    cs = repo.changes(old, head)
    assert cs.full_rescan and "not an ancestor" in cs.reason
    assert cs.deleted == {"doomed"} and cs.modified == {"alpha"}
    assert cs.affected == {"alpha", "beta", "gamma"}


@pytest.mark.parametrize("since", ["0" * 40, "not-a-sha", "--output=/tmp/x", "abc def"])
def test_unknown_base_is_full_rescan_never_error(repo: GitRepo, since: str) -> None:
    head = repo.head()
    assert repo.is_ancestor(since, head) is False
    cs = repo.changes(since, head)
    assert cs.full_rescan and cs.base == since
    assert cs.affected == {"alpha", "beta", "gamma"}


def test_unknown_head_is_error(repo: GitRepo) -> None:
    base = repo.head()
    with pytest.raises(GitError, match="not found"):
        repo.changes(base, "1" * 40)


def test_missing_branch_names_branch_and_location(work: WorkRepo) -> None:
    repo = GitRepo(str(work.path), branch="release")
    with pytest.raises(GitError) as info:
        repo.head()
    assert "'release'" in str(info.value) and str(work.path) in str(info.value)
    assert "main" in str(info.value)


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="not a git repository"):
        GitRepo(str(tmp_path))
    with pytest.raises(GitError, match="does not exist"):
        GitRepo(str(tmp_path / "nope"))


def test_read_file_and_missing_file(work: WorkRepo, repo: GitRepo) -> None:
    head = repo.head()
    assert repo.read_file(head, "models/alpha/model.yaml") == model_yaml("alpha").encode()
    with pytest.raises(GitPathNotFoundError) as info:
        repo.read_file(head, "models/alpha/nope.yaml")
    assert head[:12] in str(info.value) and "models/alpha/nope.yaml" in str(info.value)
    with pytest.raises(GitError, match="not a file"):
        repo.read_file(head, "models/alpha")
    with pytest.raises(GitError, match="not found"):
        repo.read_file("2" * 40, "models/alpha/model.yaml")


def test_read_file_follows_symlink_inside_repo(work: WorkRepo, repo: GitRepo) -> None:
    work.write("shared/base.yaml", "shared: true\n")
    work.symlink("models/alpha/extra.yaml", "../../shared/./base.yaml")
    work.symlink("models/alpha/plain.yaml", "../../shared/base.yaml")
    work.symlink("models/alpha/dangling.yaml", "../../shared/none.yaml")
    work.symlink("models/alpha/sneaky.yaml", "./../../../outside.yaml")
    work.symlink("models/alpha/loop.yaml", "loop.yaml")
    head = work.commit("links")
    assert work.git("ls-tree", head, "models/alpha/extra.yaml").startswith("120000")
    assert repo.read_file(head, "models/alpha/extra.yaml") == b"shared: true\n"
    assert repo.read_file(head, "models/alpha/plain.yaml") == b"shared: true\n"
    assert repo.read_file(head, "./models/../models/alpha/extra.yaml") == b"shared: true\n"
    with pytest.raises(GitPathNotFoundError, match="no such file"):
        repo.read_file(head, "models/alpha/dangling.yaml")
    with pytest.raises(GitError, match="points outside the repository"):
        repo.read_file(head, "models/alpha/sneaky.yaml")
    with pytest.raises(GitError, match="symbolic links"):
        repo.read_file(head, "models/alpha/loop.yaml")


@pytest.mark.parametrize("target", ["../../../outside.yaml", "/etc/passwd"])
def test_read_file_refuses_symlink_leaving_repo(work: WorkRepo, repo: GitRepo, target: str) -> None:
    (work.path.parent / "outside.yaml").write_text("secret\n")
    work.symlink("models/alpha/escape.yaml", target)
    head = work.commit("escape")
    with pytest.raises(GitError, match="points outside the repository"):
        repo.read_file(head, "models/alpha/escape.yaml")
    with pytest.raises(GitError, match="invalid repository path"):
        repo.read_file(head, "../outside.yaml")


def test_commit_info(work: WorkRepo, repo: GitRepo) -> None:
    work.write("README.md", "x\n")
    head = work.commit("Bump the readme\n\nbody text")
    info = repo.commit_info(head)
    assert info.sha == head and info.subject == "Bump the readme"
    assert (info.author, info.author_email) == ("Ada Lovelace", "ada@example.com")
    assert info.timestamp == int(work.git("show", "-s", "--format=%ct", head))


def test_models_at_uses_commit_not_worktree(work: WorkRepo, repo: GitRepo) -> None:
    first = repo.head()
    work.add_model("later")
    second = work.commit("later")
    work.write("models/uncommitted/model.yaml", model_yaml("uncommitted"))
    assert repo.models_at(first) == {"alpha", "beta", "gamma"}
    assert repo.models_at(second) == {"alpha", "beta", "gamma", "later"}


def test_worktree_and_index_are_never_touched(work: WorkRepo, repo: GitRepo) -> None:
    base = repo.head()
    work.write("models/alpha/model.yaml", model_yaml("alpha", "9.9.9"))
    head = work.commit("m")
    work.write("models/beta/model.yaml", "dirty: work tree\n")
    work.write("models/gamma/staged.txt", "staged\n")
    work.git("add", "models/gamma/staged.txt")
    index = work.path / ".git" / "index"
    status = work.git("status", "--porcelain")
    before = (index.read_bytes(), index.stat().st_mtime_ns)
    repo.changes(base, head).present  # noqa: B018 - force the lazy listing too
    repo.read_file(head, "models/alpha/model.yaml")
    repo.commit_info(head)
    repo.is_ancestor(base, head)
    repo.sync()
    assert (index.read_bytes(), index.stat().st_mtime_ns) == before
    assert work.git("status", "--porcelain") == status
    assert (work.path / "models/beta/model.yaml").read_text() == "dirty: work tree\n"


def test_changeset_built_directly() -> None:
    cs = ChangeSet(
        base="a",
        head="b",
        full_rescan=False,
        reason="1 file changed",
        added={"new"},
        approvals_changed={"gone"},
        present={"new", "old"},
    )
    assert cs.affected == {"new"}
    again = ChangeSet.model_validate(cs.model_dump())
    assert again.present == {"new", "old"} and again.affected == {"new"}
    env = cs.model_copy(update={"environments_changed": {"staging"}})
    assert env.affected == {"new", "old"}
    with pytest.raises(ValueError, match="without `present`"):
        _ = ChangeSet(base=None, head="b", full_rescan=True, reason="x").present


def test_incremental_push_does_not_list_every_model(work: WorkRepo, repo: GitRepo) -> None:
    base = repo.head()
    work.write("models/alpha/notes.txt", "x\n")
    work.write("approvals/beta.yaml", "approved_by: alice\n")
    head = work.commit("small")
    calls: list[str] = []
    listing = repo.models_at

    def counting_models_at(commit: str) -> set[str]:
        calls.append(commit)
        return listing(commit)

    repo.models_at = counting_models_at  # type: ignore[method-assign]
    cs = repo.changes(base, head)
    assert cs.affected == {"alpha", "beta"} and cs.modified == {"alpha"}
    assert calls == []
    assert cs == repo.changes(base, head)
    assert cs.present == {"alpha", "beta", "gamma"} and calls == [head]
    work.write("config/staging.yaml", "environment: staging\nnamespace: s\n")
    env_head = work.commit("env")
    assert repo.changes(head, env_head).affected == {"alpha", "beta", "gamma"}
    assert calls == [head, env_head]
