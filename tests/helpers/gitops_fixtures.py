"""Real temporary git repositories for the gitops tests, driven through the git CLI."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def git_env(name: str, email: str) -> dict[str, str]:
    """The environment to run git in a test repo as ``name <email>``: this process's environment
    without a repository location it may carry (``GIT_DIR``, ...), without system or user
    config, never prompting."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
    }
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(var, None)
    return env


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` with a fixed identity; return stdout (stripped)."""
    env = git_env("Ada Lovelace", "ada@example.com")
    proc = subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, env=env, timeout=60
    )
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout.strip()


def model_yaml(name: str, version: str = "1.0.0") -> str:
    return f"name: {name}\nversion: {version}\n"


class WorkRepo:
    """A non-bare repository on branch ``main`` with helpers to write files and commit."""

    def __init__(self, path: Path, *, init: bool = True) -> None:
        self.path = path
        if init:
            path.mkdir(parents=True, exist_ok=True)
            git(path, "init", "-q", "-b", "main")

    def write(self, rel: str, text: str) -> None:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def add_model(self, name: str, version: str = "1.0.0") -> None:
        self.write(f"models/{name}/model.yaml", model_yaml(name, version))
        self.write(f"models/{name}/README.md", f"# {name}\n")

    def symlink(self, rel: str, target: str) -> None:
        link = self.path / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)

    def commit(self, message: str = "change") -> str:
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "--allow-empty", "-m", message)
        return git(self.path, "rev-parse", "HEAD")

    def git(self, *args: str) -> str:
        return git(self.path, *args)


def seeded_repo(path: Path, names: tuple[str, ...] = ("alpha", "beta", "gamma")) -> WorkRepo:
    """A repo with a few models, two environments and a root README, committed once."""
    repo = WorkRepo(path)
    for name in names:
        repo.add_model(name)
    repo.write("config/staging.yaml", "environment: staging\n")
    repo.write("config/production.yaml", "environment: production\n")
    repo.write("README.md", "models repo\n")
    repo.commit("seed")
    return repo
