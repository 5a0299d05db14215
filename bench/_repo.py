"""Helpers for benchmarks: build large models repos quickly with ``git fast-import``.

Importers put the repository root on ``sys.path`` first (for ``tests.helpers``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers.gitops_fixtures import git_env

GIT_ENV = git_env("bench", "bench@example.invalid")

MODEL = """name: {name}
version: {version}
architecture: transformer
resources:
  memory_gb: 16
  gpu_count: 1
source:
  type: local
  uri: weights/{name}
"""


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` and return stdout."""
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=GIT_ENV
    ).stdout.strip()


def build_repo(path: Path, n_models: int) -> Path:
    """A repo with ``n_models`` models in one commit on ``main`` (via fast-import)."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    lines = ["commit refs/heads/main", "committer bench <b@x> 1700000000 +0000", "data 4", "init"]
    for i in range(n_models):
        name = f"model-{i:05d}"
        body = MODEL.format(name=name, version="1.0.0").encode()
        lines.append(f"M 100644 inline models/{name}/model.yaml")
        lines.append(f"data {len(body)}")
        lines.append(body.decode())
    data = ("\n".join(lines) + "\n").encode()
    subprocess.run(
        ["git", "-C", str(path), "fast-import", "--quiet"], input=data, check=True, env=GIT_ENV
    )
    git(path, "reset", "-q", "--hard", "main")
    return path


def touch_models(path: Path, names: list[str], version: str) -> str:
    """Commit a version bump of ``names``; return the new head."""
    for name in names:
        (path / "models" / name / "model.yaml").write_text(MODEL.format(name=name, version=version))
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", f"bump {len(names)} models")
    return git(path, "rev-parse", "HEAD")
