"""The configuration contract: ``models/<name>/model.yaml``, ``config/<env>.yaml``, and the
output-quality suites ``evals/<name>.yaml``.

Everything here is safe on untrusted input: a bad file raises :class:`ConfigError` listing every
problem (file, line, field, message), never any other exception.
"""

from __future__ import annotations

from llm_platform.common.repo_layout import model_config_path
from llm_platform.config.environment import (
    Autoscaling,
    Cluster,
    Deployment,
    EnvironmentConfig,
    effective_slo,
)
from llm_platform.config.files import read_config_bytes
from llm_platform.config.loading import (
    load_environment,
    load_environment_config,
    load_model_config,
    parse_environment_config,
    parse_model_config,
)
from llm_platform.config.problems import ConfigError, Problem
from llm_platform.config.schema import (
    ModelConfig,
    Resources,
    Serving,
    SLOObjectives,
    SLOOverrides,
    Source,
    duration_seconds,
)
from llm_platform.config.validate import ValidationReport, validate_paths, validate_report

__all__ = [
    "Autoscaling",
    "Cluster",
    "ConfigError",
    "Deployment",
    "EnvironmentConfig",
    "ModelConfig",
    "Problem",
    "Resources",
    "SLOObjectives",
    "SLOOverrides",
    "Serving",
    "Source",
    "ValidationReport",
    "duration_seconds",
    "effective_slo",
    "load_environment",
    "load_environment_config",
    "load_model_config",
    "model_config_path",
    "parse_environment_config",
    "parse_model_config",
    "read_config_bytes",
    "validate_paths",
    "validate_report",
]
