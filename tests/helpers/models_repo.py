"""A real git repo of models for tests, and the model and environment YAML it is seeded with."""

from __future__ import annotations

import subprocess
from pathlib import Path

from llm_platform.demo.signing import signing_options
from llm_platform.settings import Settings
from tests.helpers.gitops_fixtures import git_env

MODEL_YAML = """\
name: {name}
version: {version}
architecture: transformer
description: test model {name}
resources:
  memory_gb: {memory}
  gpu_count: 1
  gpu_type: nvidia-tesla-v100
serving:
  max_batch_size: 8
  max_sequence_length: 2048
  protocol: http
source:
  type: local
  uri: weights/{name}
"""

ENV_YAML = """\
environment: {env}
namespace: {env}
cluster:
  gpu_node_selector:
    node-type: gpu-v100
resources:
  default_limits:
    memory_multiplier: 0.8
    gpu_multiplier: 1.0
autoscaling:
  enabled: true
  min_replicas: 1
  max_replicas: 5
monitoring:
  prometheus_namespace: monitoring
deployment:
  strategy: rolling-update
  max_unavailable: 1
  max_surge: 1
slo:
  window: 5m
  min_requests: 10
  min_soak: 10s
approvers: [alice]
"""


class ModelsRepo:
    """A real git repo with ``models/<name>/model.yaml`` files, driven by the git CLI."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: When set, commits are SSH-signed with this key (model changes must be signed where
        #: an environment requires approval: four eyes needs the change's verified author).
        self.signing_key: Path | None = None

    def git(self, *args: str) -> str:
        out = subprocess.run(
            ["git", "-C", str(self.path), *args],
            check=True,
            capture_output=True,
            text=True,
            env=git_env("Test Author", "author@example.invalid"),
        )
        return out.stdout.strip()

    def write(self, rel: str, text: str) -> None:
        p = self.path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    def write_model(self, name: str, *, version: str = "1.0.0", memory: int = 16) -> None:
        self.write(
            f"models/{name}/model.yaml",
            MODEL_YAML.format(name=name, version=version, memory=memory),
        )

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        key = self.signing_key
        sign = signing_options(key) if key else []
        self.git(*sign, "commit", "-q", "--allow-empty", *(["-S"] if key else []), "-m", message)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")


def repo_settings(repo: ModelsRepo, home: Path, **env: str) -> Settings:
    """The platform's settings for ``repo`` with its home at ``home`` (plus ``env``)."""
    return Settings.from_env(
        {"LLM_PLATFORM_MODELS_REPO": str(repo.path), "LLM_PLATFORM_HOME": str(home), **env}
    )
