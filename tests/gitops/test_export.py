"""GitRepo.export: a subtree of the models repo as it is at a commit."""

from __future__ import annotations

import os

import pytest

from llm_platform.gitops import GitError, GitRepo


def test_export_writes_the_tree_at_the_commit_not_the_work_tree(models_repo, tmp_path):
    models_repo.write("weights/alpha/a.bin", "v1")
    models_repo.write("weights/alpha/sub/b.json", "{}")
    old = models_repo.commit("weights v1")
    models_repo.write("weights/alpha/a.bin", "v2")
    models_repo.commit("weights v2")
    models_repo.write("weights/alpha/a.bin", "uncommitted")
    out = GitRepo(str(models_repo.path)).export(old, "weights/alpha", tmp_path / "x")
    assert (out / "a.bin").read_text() == "v1"
    assert (out / "sub" / "b.json").read_text() == "{}"


def test_export_missing_path_and_escaping_path_are_errors(models_repo, tmp_path):
    repo = GitRepo(str(models_repo.path))
    with pytest.raises(GitError, match="no such file"):
        repo.export(models_repo.head(), "weights/nothing", tmp_path / "x")
    with pytest.raises(GitError, match="invalid repository path"):
        repo.export(models_repo.head(), "../outside", tmp_path / "x")


def test_export_refuses_symlink_leaving_the_export(models_repo, tmp_path):
    (models_repo.path / "weights").mkdir()
    os.symlink("/etc/passwd", models_repo.path / "weights" / "evil")
    sha = models_repo.commit("evil link")
    with pytest.raises(GitError, match="cannot export"):
        GitRepo(str(models_repo.path)).export(sha, "weights", tmp_path / "x")
    assert not (tmp_path / "x" / "weights" / "evil").exists()
