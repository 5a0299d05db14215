"""The paths of a models repo, as every reader (config loader, git layer, assets) builds them."""

from __future__ import annotations

from llm_platform.common.repo_layout import (
    environment_config_path,
    eval_suite_path,
    model_config_path,
)
from llm_platform.gitops.changeset import approval_of, environment_of, model_of


def test_paths() -> None:
    assert model_config_path("llama") == "models/llama/model.yaml"
    assert environment_config_path("staging") == "config/staging.yaml"
    assert eval_suite_path("llama") == "evals/llama.yaml"


def test_change_detection_reads_the_same_paths() -> None:
    assert environment_of(environment_config_path("production")) == "production"
    assert model_of(model_config_path("llama")) == ("llama", True)
    assert approval_of("approvals/llama.yaml") == "llama"
