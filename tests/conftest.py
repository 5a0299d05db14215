"""Shared fixtures: real temporary git repos of models and real temporary Dagster instances."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Fixtures shared by many test modules without importing them by name.
pytest_plugins = [
    "tests.engine_fixtures",  # session-wide: one Gemma assembly, one llama.cpp server
    "tests.eval_build_fixtures",  # session-wide: Gemma builds the quality gate must catch
    "tests.kube_emulator_fixtures",
    "tests.webhook_fixtures",
]

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.invalid",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.invalid",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_CONFIG_NOSYSTEM": "1",
}

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
            env={**os.environ, **GIT_ENV},
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
        sign = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key}"] if key else []
        self.git(*sign, "commit", "-q", "--allow-empty", *(["-S"] if key else []), "-m", message)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def models_repo(tmp_path: Path) -> ModelsRepo:
    """A repo with two valid models and a staging environment, one commit on ``main``."""
    repo = ModelsRepo(tmp_path / "models-repo")
    repo.path.mkdir()
    repo.git("init", "-q", "-b", "main")
    repo.write_model("alpha")
    repo.write_model("beta")
    repo.write("config/staging.yaml", ENV_YAML.format(env="staging"))
    repo.commit("initial models")
    return repo


@pytest.fixture
def dagster_home(tmp_path: Path) -> Iterator[Path]:
    """A DAGSTER_HOME with telemetry off, set for the duration of the test."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    old = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("DAGSTER_HOME", None)
    else:
        os.environ["DAGSTER_HOME"] = old


@pytest.fixture(scope="module")
def stack_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A running embedded stack (Prometheus, gateways, controller) on free ports, per module;
    everything it started is stopped by PID afterwards."""
    from llm_platform.runtime.stack import stack_up
    from tests.runtime_fixtures import teardown_home

    home = tmp_path_factory.mktemp("stack-home")
    try:
        stack_up(home, prometheus_port=0, gateway_base_port=0)
        yield home
    finally:
        teardown_home(home)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the ``long`` tests first, longest (``long(seconds)``) first: with ``make test``'s
    parallel workers (pytest-xdist, whole files per worker) they then overlap everything else
    instead of running alone at the end."""

    def rank(item: pytest.Item) -> tuple[bool, float]:
        mark = item.get_closest_marker("long")
        return (mark is None, -float(mark.args[0]) if mark and mark.args else 0.0)

    items.sort(key=rank)
