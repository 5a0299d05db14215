"""A pushed model.yaml checked: what a valid config records, every problem of an invalid one."""

from __future__ import annotations

from llm_platform.config.model_check import (
    InvalidModelConfig,
    ValidModelConfig,
    check_model_config,
)
from tests.helpers.models_repo import MODEL_YAML

REL = "models/alpha/model.yaml"


def test_a_valid_config_is_summarised_for_the_record() -> None:
    raw = MODEL_YAML.format(name="alpha", version="1.2.3", memory=16).encode()
    checked = check_model_config(raw, source=REL, name="alpha")
    assert isinstance(checked, ValidModelConfig)
    assert checked.summary() == {
        "version": "1.2.3",
        "config_hash": checked.config.config_hash(),
        "architecture": "transformer",
        "memory_gb": 16.0,
        "gpu_count": 1,
        "gpu_type": "nvidia-tesla-v100",
        "source": "local:weights/alpha",
    }
    assert list(checked.summary())[:2] == ["version", "config_hash"]


def test_an_invalid_config_lists_every_problem() -> None:
    raw = MODEL_YAML.format(name="beta", version="1.x", memory=2).encode()
    checked = check_model_config(raw, source=REL, name="alpha")
    assert isinstance(checked, InvalidModelConfig)
    assert len(checked.problems) >= 3  # the name, the version and the memory rule
    assert checked.lines == [str(p) for p in checked.problems]
    assert all(line.startswith(REL) for line in checked.lines)
    assert checked.markdown.splitlines() == [f"- `{line}`" for line in checked.lines]
