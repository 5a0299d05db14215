"""Parse and load model and environment configs, turning every failure into :class:`Problem`s."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from llm_platform.common.repo_layout import environment_config_path
from llm_platform.config.environment import EnvironmentConfig
from llm_platform.config.files import read_config_bytes
from llm_platform.config.problems import ConfigError
from llm_platform.config.pydantic_problems import sort_problems, validation_problems
from llm_platform.config.schema import ModelConfig
from llm_platform.config.yaml_loader import key_lines, load_mapping

ConfigT = TypeVar("ConfigT", bound=BaseModel)


def parse_model_config(
    data: bytes, *, source: str, expected_name: str | None = None
) -> ModelConfig:
    """Validate the bytes of a ``model.yaml`` (e.g. a blob read from git at a commit).

    Args:
        data: Raw file content.
        source: Path shown in problems (e.g. ``models/llama/model.yaml``).
        expected_name: The model's directory name; ``name`` must equal it when given.

    Returns:
        The validated config.

    Raises:
        ConfigError: With every problem found in the file.
    """
    return _parse(data, ModelConfig, source=source, context={"expected_name": expected_name})


def parse_environment_config(
    data: bytes, *, source: str, expected_environment: str | None = None
) -> EnvironmentConfig:
    """Validate the bytes of a ``config/<env>.yaml``.

    Args:
        data: Raw file content.
        source: Path shown in problems.
        expected_environment: When given, the ``environment`` key must equal it (the file stem).

    Returns:
        The validated environment config.

    Raises:
        ConfigError: With every problem found in the file.
    """
    context = {"expected_environment": expected_environment}
    return _parse(data, EnvironmentConfig, source=source, context=context)


def load_model_config(path: Path, *, repo_root: Path | None = None) -> ModelConfig:
    """Read and validate a ``model.yaml``; its ``name`` must equal its directory's name.

    Args:
        path: The ``model.yaml`` file.
        repo_root: When given, the file (after resolving symlinks) must lie inside it.

    Returns:
        The validated config.

    Raises:
        ConfigError: The file is missing, escapes ``repo_root``, or is invalid.
    """
    data = read_config_bytes(path, repo_root=repo_root)
    return parse_model_config(data, source=str(path), expected_name=Path(path).parent.name)


def load_environment_config(path: Path) -> EnvironmentConfig:
    """Read and validate an environment file; ``environment`` must equal the file stem.

    Raises:
        ConfigError: The file is missing or invalid.
    """
    data = read_config_bytes(path)
    return parse_environment_config(data, source=str(path), expected_environment=Path(path).stem)


def load_environment(repo_root: Path, env: str) -> EnvironmentConfig:
    """Load ``config/<env>.yaml`` from a models repository checkout.

    Raises:
        ConfigError: The environment file is missing or invalid.
    """
    return load_environment_config(Path(repo_root) / environment_config_path(env))


def _parse(data: bytes, model: type[ConfigT], *, source: str, context: dict[str, Any]) -> ConfigT:
    if isinstance(data, str):
        data = data.encode("utf-8")
    document = load_mapping(data, source=source)
    try:
        config = model.model_validate(document.data, context=context)
    except ValidationError as exc:
        lines = key_lines(document.text)
        problems = document.problems + validation_problems(exc, model, lines, source)
        raise ConfigError(sort_problems(problems)) from None
    if document.problems:
        raise ConfigError(document.problems)
    return config
