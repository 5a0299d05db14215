"""The seams between layers: one source per concept, the Runtime interface, metric profiles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from llm_platform.common.strategy_names import STRATEGY_NAMES
from llm_platform.config import EnvironmentConfig, model_config_path
from llm_platform.promotion.strategy_table import STRATEGIES
from llm_platform.slo import DEFAULT_PROFILE, VLLM_PROFILE
from llm_platform.slo.deployment_profile import METRIC_PROFILE_KEY, metric_profile_for
from tests.helpers.paths import REPO_ROOT

ROOT = REPO_ROOT


def test_strategy_registry_and_schema_enum_are_the_same_names():
    schema = EnvironmentConfig.model_json_schema()
    enum = schema["$defs"]["Deployment"]["properties"]["strategy"]["enum"]
    assert set(STRATEGIES) == set(STRATEGY_NAMES) == set(enum)


def test_model_config_path():
    assert model_config_path("llama-3-1-8b") == "models/llama-3-1-8b/model.yaml"


def test_metric_profile_comes_from_the_deployment():
    assert metric_profile_for({}) is DEFAULT_PROFILE
    assert metric_profile_for({METRIC_PROFILE_KEY: "vllm"}) is VLLM_PROFILE
    with pytest.raises(ValueError, match="'tgi': no such metric profile"):
        metric_profile_for({METRIC_PROFILE_KEY: "tgi"})


def _names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("layer", ["assets", "sensors"])
def test_assets_and_sensors_depend_on_the_runtime_interface(layer: str):
    local = {"LocalRuntimeResource", "LocalRuntime"}
    offenders = {
        str(p.relative_to(ROOT)): sorted(_names(p) & local) for p in (ROOT / layer).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
