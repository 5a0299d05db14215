"""Shared fixtures: real temporary git repos of models and real temporary Dagster instances."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.models_repo import ENV_YAML, ModelsRepo

#: Fixtures shared by many test modules without importing them by name.
pytest_plugins = [
    "tests.helpers.engine_dirs",  # one artifact directory per engine format
    "tests.helpers.engine_fixtures",  # session-wide: one Gemma assembly, one llama.cpp server
    "tests.helpers.eval_build_fixtures",  # session-wide: Gemma builds the quality gate must catch
    "tests.helpers.kube_emulator_fixtures",
    "tests.helpers.signing_fixtures",  # session-wide: one set of SSH keys and its trust root
    "tests.helpers.approvals_world",  # a fresh signed models repo per test (``world``)
    "tests.helpers.webhook_fixtures",
]


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
    from llm_platform.targets.local.stack import stack_up
    from tests.helpers.runtime_fixtures import teardown_home

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
