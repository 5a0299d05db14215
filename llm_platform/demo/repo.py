"""The demo models repo: a real local git repo created from ``examples/models-repo``."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from llm_platform.common.errors import ConfigurationError
from llm_platform.common.repo_layout import DEFAULT_BRANCH

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples" / "models-repo"
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "llm-platform demo",
    "GIT_AUTHOR_EMAIL": "demo@llm-platform.invalid",
    "GIT_COMMITTER_NAME": "llm-platform demo",
    "GIT_COMMITTER_EMAIL": "demo@llm-platform.invalid",
    "GIT_TERMINAL_PROMPT": "0",
}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        env={**os.environ, **_GIT_ENV},
        timeout=60,
    )


def commit(repo: Path, message: str, *, signing_key: Path | None = None) -> None:
    """Commit what is staged in ``repo``; SSH-signed with ``signing_key`` when given (where an
    environment requires approval, model changes must be signed by a key of the trust root)."""
    sign = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={signing_key}"] if signing_key else []
    _git(repo, *sign, "commit", "-q", *(["-S"] if signing_key else []), "-m", message)


def ensure_demo_repo(
    path: Path,
    *,
    examples: Path = EXAMPLES_DIR,
    branch: str = DEFAULT_BRANCH,
    signing_key: Path | None = None,
) -> bool:
    """Create the demo models repo at ``path`` unless it already exists.

    The repo gets one commit with the contents of ``examples`` (signed with ``signing_key``
    when given: the demo's model owner); afterwards it is the user's to edit and commit to
    (the git-push sensor watches it).

    Returns:
        True if the repo was created, False if it existed.

    Raises:
        ConfigurationError: ``path`` exists but is not a git repository, or the examples are
            missing.
    """
    if (path / ".git").exists():
        return False
    if path.exists() and any(path.iterdir()):
        raise ConfigurationError(f"{path}: exists and is not a git repository; remove it first")
    if not (examples / "models").is_dir():
        raise ConfigurationError(f"{examples}: example models repo not found")
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(examples, tmp)
    _git(tmp, "init", "-q", "-b", branch)
    _git(tmp, "add", "-A")
    commit(tmp, "Initial models from llm-platform examples", signing_key=signing_key)
    if path.exists():
        path.rmdir()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, path)
    return True
