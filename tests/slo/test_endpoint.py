"""Which Prometheus `slo check` and the Dagster resource ask: flag, env var, this home's stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_platform.slo.endpoint import PrometheusNotConfigured, resolve_prometheus_url
from llm_platform.targets.local.stack import load_stack, stack_down, stack_up
from resources.prometheus import PrometheusResource
from tests.helpers.config_fixtures import env_dict, model_dict, to_yaml
from tests.helpers.runtime_fixtures import teardown_home

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

MODEL = "llama-3-1-8b"


@pytest.fixture(scope="module")
def models_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("repo")
    (root / "config").mkdir()
    (root / "config" / "staging.yaml").write_bytes(to_yaml(env_dict()))
    (root / "models" / MODEL).mkdir(parents=True)
    (root / "models" / MODEL / "model.yaml").write_bytes(to_yaml(model_dict()))
    return root


@pytest.fixture(scope="module")
def running_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home whose embedded stack runs Prometheus (no gateways: nothing else is needed)."""
    home = tmp_path_factory.mktemp("home-up") / "home"
    stack_up(home, envs=(), prometheus_port=0, gateway_base_port=0)
    yield home
    assert teardown_home(home) == [], "processes were left behind"


def slo_check(home: Path, repo: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_URL"}
    env |= {"LLM_PLATFORM_HOME": str(home), "COLUMNS": "200"}
    cli = Path(sys.executable).parent / "llm-platform"
    return subprocess.run(
        [str(cli), "slo", "check", "--env", "staging", "--model", MODEL, "--repo", str(repo)]
        + list(extra),
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_fresh_home_without_stack_is_exit_2_saying_so(tmp_path: Path, models_repo: Path) -> None:
    home = tmp_path / "fresh"
    result = slo_check(home, models_repo)
    assert result.returncode == 2, result.stdout + result.stderr
    message = " ".join(result.stderr.split())
    assert "no Prometheus to ask" in message and "PROMETHEUS_URL is not set" in message
    assert "no embedded stack runs in" in message and "stack up" in message
    assert not home.exists(), "resolving a URL must not create the home"
    with pytest.raises(PrometheusNotConfigured):
        resolve_prometheus_url(home=home, environ={})


def test_running_stack_is_used(running_home: Path, models_repo: Path) -> None:
    url = load_stack(running_home).prometheus_url
    assert url and url.startswith("http://127.0.0.1:")
    assert resolve_prometheus_url(home=running_home, environ={}) == url
    assert (
        PrometheusResource(home=str(running_home)).resolved_url(monitoring_namespace="monitoring")
        == url
    )
    result = slo_check(running_home, models_repo, "--format", "json")
    # The stack's Prometheus answered (no model traffic in it): inconclusive, not an error.
    assert result.returncode == 3, result.stderr
    doc = json.loads(result.stdout)
    assert doc["verdict"] == "inconclusive"
    assert "no requests recorded" in doc["objectives"][1]["reason"]


def test_flag_then_env_var_win_over_the_stack(running_home: Path) -> None:
    stack_url = load_stack(running_home).prometheus_url
    env = {"PROMETHEUS_URL": "http://127.0.0.1:1/"}
    assert resolve_prometheus_url(home=running_home, environ=env) == "http://127.0.0.1:1"
    assert resolve_prometheus_url("http://flag:9", home=running_home, environ=env) == (
        "http://flag:9"
    )
    assert resolve_prometheus_url(home=running_home, environ={}) == stack_url


def test_stopped_stack_is_not_used(tmp_path: Path, models_repo: Path) -> None:
    """A recorded URL whose Prometheus is gone may belong to another stack by now: refused."""
    home = tmp_path / "home"
    try:
        url = stack_up(home, envs=(), prometheus_port=0, gateway_base_port=0).prometheus_url
        stack_down(home)
        assert load_stack(home).prometheus_url == url
        result = slo_check(home, models_repo)
    finally:
        assert teardown_home(home) == []
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert f"recorded {url} but it is not running" in message


def test_damaged_stack_state_is_exit_2_naming_the_file(tmp_path: Path, models_repo: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "stack.json").write_text('{"prometheus_url": 5')
    result = slo_check(home, models_repo)
    assert result.returncode == 2, result.stdout + result.stderr
    message = " ".join(result.stderr.split())
    assert "no embedded stack runs in" in message
    assert "state is unreadable" in message and "stack.json" in message


def test_damaged_stack_state_still_finds_the_running_prometheus(
    running_home: Path, models_repo: Path
) -> None:
    """The pid files name the Prometheus this home started: checks go on until `stack up`."""
    stack_file = running_home / "stack.json"
    url = load_stack(running_home).prometheus_url
    saved = stack_file.read_bytes()
    try:
        stack_file.write_text('{"prometheus_url": 5')
        assert resolve_prometheus_url(home=running_home, environ={}) == url
        result = slo_check(running_home, models_repo, "--format", "json")
        assert result.returncode == 3, result.stderr  # Prometheus answered: no traffic yet
    finally:
        stack_file.write_bytes(saved)
