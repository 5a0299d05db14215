"""How the Definitions load and what they wire: no models repo read at load time, the dagster
CLI, the target's runtime, asset kinds, the instance's run queue, the promotion automation."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from assets.names import MODEL_CONFIG
from definitions import build_defs
from llm_platform.common.errors import ConfigurationError
from llm_platform.settings import Settings
from resources.runtime import KubernetesRuntimeResource
from sensors.promotion import promotion_automation
from tests.helpers.models_repo import repo_settings
from tests.helpers.paths import REPO_ROOT


def test_definitions_load_without_reading_the_models_repo(tmp_path):
    settings = Settings.from_env(
        {
            "LLM_PLATFORM_MODELS_REPO": str(tmp_path / "does-not-exist"),
            "LLM_PLATFORM_HOME": str(tmp_path / "h"),
        }
    )
    defs = build_defs(settings)
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_sensor_def("git_push_sensor").default_status == (
        dg.DefaultSensorStatus.RUNNING
    )
    assert defs.resolve_assets_def(MODEL_CONFIG).partitions_def.name == "models"


def test_dagster_cli_loads_the_same_code_with_and_without_workspace(tmp_path):
    env = {
        "LLM_PLATFORM_HOME": str(tmp_path / "h"),
        "DAGSTER_HOME": str(tmp_path),
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
    }
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    for extra in ([], ["-w", "workspace.yaml"]):
        out = subprocess.run(
            [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", *extra],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert "llm_platform" in out.stdout + out.stderr


def test_settings_reject_unknown_target():
    with pytest.raises(ConfigurationError, match="LLM_PLATFORM_TARGET"):
        Settings.from_env({"LLM_PLATFORM_TARGET": "mars"})


def test_instance_config_serializes_runs_per_model(tmp_path):
    shutil.copy(REPO_ROOT / "deploy" / "dagster.yaml", tmp_path / "dagster.yaml")
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    try:
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert limits == [
            {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
        ]
    finally:
        instance.dispose()


def test_kubernetes_target_selects_the_kubernetes_runtime(tmp_path):
    settings = Settings.from_env(
        {"LLM_PLATFORM_TARGET": "kubernetes", "LLM_PLATFORM_HOME": str(tmp_path)}
    )
    defs = build_defs(settings)  # loading never contacts a cluster
    runtime = defs.resources["runtime"]
    assert isinstance(runtime, KubernetesRuntimeResource)
    assert runtime.models_repo == settings.models_repo
    assert "kubernetes" in _kinds(defs)["production_deployment"]


def _kinds(defs: dg.Definitions) -> dict[str, set[str]]:
    graph = defs.resolve_asset_graph()
    return {
        key.to_user_string(): {t.removeprefix("dagster/kind/") for t in graph.get(key).tags}
        & {"python", "kubernetes", "prometheus", "kubeflow", "s3", "git", "yaml"}
        for key in graph.get_all_asset_keys()
    }


def test_kinds_say_what_runs_on_the_local_target(models_repo, tmp_path):
    kinds = _kinds(build_defs(repo_settings(models_repo, tmp_path / "h")))
    assert kinds["staging_deployment"] == {"python", "prometheus"}
    assert kinds["production_deployment"] == {"python"}
    assert kinds["registered_model"] == {"kubeflow"}  # a local artifact directory, not S3
    assert not any("kubernetes" in k for k in kinds.values())
    s3 = repo_settings(models_repo, tmp_path / "h", ARTIFACT_STORE_URI="s3://bucket/prefix")
    assert _kinds(build_defs(s3))["registered_model"] == {"kubeflow", "s3"}


def test_promotion_automation_promotes_without_running_production_checks(models_repo, tmp_path):
    """Production SLO checks right after a switch would only be inconclusive: the automation's
    runs materialize production_deployment alone (the re-check schedule judges it later)."""
    defs = build_defs(repo_settings(models_repo, tmp_path / "h"))
    graph = defs.resolve_asset_graph()
    selection = promotion_automation.asset_selection
    assert selection is not None
    assert selection.resolve(graph) == {dg.AssetKey("production_deployment")}
    assert selection.resolve_checks(graph) == set()
