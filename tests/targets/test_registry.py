"""The target registry: every target's entry resolves, every place that varies by target reads
it, and an unknown target is a clear configuration error."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from llm_platform.common.errors import ConfigurationError
from llm_platform.common.target_names import DEFAULT_TARGET, IGNORED_KEYS, TARGET_NAMES
from llm_platform.config.applicability import CLUSTER_ONLY_KEYS, cluster_only_settings
from llm_platform.config.environment import EnvironmentConfig
from llm_platform.settings import Settings
from llm_platform.targets.base import Runtime
from llm_platform.targets.kubernetes.api import KubernetesApiError
from llm_platform.targets.local.local import LocalRuntime
from llm_platform.targets.options import TargetOptions
from llm_platform.targets.registry import (
    KUBERNETES,
    LOCAL,
    TARGETS,
    UnknownTarget,
    target_spec,
)
from tests.helpers.config_fixtures import env_dict


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_each_target_resolves_to_its_entry(name: str) -> None:
    spec = target_spec(name)
    assert spec is TARGETS[name] and spec.name == name
    assert spec.summary and spec.runs_as
    assert callable(spec.build_runtime) and callable(spec.capacity_item)
    assert spec.discover_prometheus is None or callable(spec.discover_prometheus)
    assert spec.own_prometheus is (spec.discover_prometheus is not None)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_each_target_has_its_dagster_resources(name: str, tmp_path: Path) -> None:
    from definitions import capacity_for, runtime_for

    settings = Settings.from_env({"LLM_PLATFORM_TARGET": name, "LLM_PLATFORM_HOME": str(tmp_path)})
    assert settings.target == name
    assert runtime_for(settings).target is TARGETS[name]
    assert capacity_for(settings).target is TARGETS[name]


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_ignored_keys_are_keys_of_the_environment_config(name: str) -> None:
    data = EnvironmentConfig.model_validate(env_dict()).model_dump(mode="json")
    for key in TARGETS[name].ignored_keys:
        value: object = data
        for part in key.split("."):
            assert isinstance(value, dict) and part in value, f"{name}: {key} is not a config key"
            value = value[part]


def test_the_local_target_is_the_default_and_builds_a_local_runtime(tmp_path: Path) -> None:
    assert DEFAULT_TARGET == LOCAL.name
    assert Settings.from_env({"LLM_PLATFORM_HOME": str(tmp_path)}).target == LOCAL.name
    runtime = LOCAL.build_runtime(TargetOptions(home=tmp_path))
    assert isinstance(runtime, LocalRuntime) and isinstance(runtime, Runtime)
    with pytest.raises(ConfigurationError, match="home"):
        LOCAL.build_runtime(TargetOptions())


def test_the_kubernetes_target_without_a_cluster_is_an_api_error(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True)
    options = TargetOptions(
        home=tmp_path, models_repo=str(tmp_path / "repo"), kubeconfig=str(tmp_path / "absent")
    )
    with pytest.raises(KubernetesApiError, match="no Kubernetes configuration usable from"):
        KUBERNETES.build_runtime(options)


def test_only_the_kubernetes_target_brings_its_own_prometheus(tmp_path: Path) -> None:
    assert not LOCAL.own_prometheus and LOCAL.discover_prometheus is None
    assert KUBERNETES.discover_prometheus is not None
    # Building the discovery never contacts a cluster; calling it does.
    discover = KUBERNETES.discover_prometheus(
        "monitoring", "production", TargetOptions(kubeconfig=str(tmp_path / "absent"))
    )
    assert callable(discover)


def test_keys_a_target_ignores_are_reported_with_the_targets_they_apply_on() -> None:
    assert tuple(TARGETS) == TARGET_NAMES
    assert all(spec.ignored_keys is IGNORED_KEYS[name] for name, spec in TARGETS.items())
    assert set(CLUSTER_ONLY_KEYS) == set(LOCAL.ignored_keys) and not KUBERNETES.ignored_keys
    env = EnvironmentConfig.model_validate(env_dict(environment="production"))
    reported = {k.key: k.applies_on for k in cluster_only_settings(env)}
    assert reported == dict.fromkeys(LOCAL.ignored_keys, KUBERNETES.name)


def test_an_unknown_target_is_a_clear_error() -> None:
    with pytest.raises(UnknownTarget, match="LLM_PLATFORM_TARGET='mars': expected") as err:
        target_spec("mars")
    assert all(repr(name) in str(err.value) for name in TARGETS)
    assert isinstance(err.value, ConfigurationError)
    with pytest.raises(ConfigurationError, match="'local' or 'kubernetes'"):
        Settings.from_env({"LLM_PLATFORM_TARGET": "mars"})
