"""A model's or an environment's config as it is at one commit of the models repo.

Every reader that works on a commit (the pipeline's steps, the approval check, the SLO rules,
the quality gate, the cluster placement) reads the file through git and validates it with the
file's repo path as its source, so a problem names ``config/<env>.yaml`` or
``models/<name>/model.yaml`` whichever caller reported it.
"""

from __future__ import annotations

from llm_platform.common.repo_layout import environment_config_path, model_config_path
from llm_platform.config.environment import EnvironmentConfig
from llm_platform.config.loading import parse_environment_config, parse_model_config
from llm_platform.config.schema import ModelConfig
from llm_platform.gitops import GitRepo


def environment_config_at(repo: GitRepo, commit: str, env: str) -> EnvironmentConfig:
    """``config/<env>.yaml`` at ``commit``, validated.

    Raises:
        GitPathNotFoundError: the file does not exist at ``commit``.
        GitError: the commit cannot be read.
        ConfigError: the file is invalid (every problem, with file and line).
    """
    rel = environment_config_path(env)
    return parse_environment_config(
        repo.read_file(commit, rel), source=rel, expected_environment=env
    )


def model_config_at(repo: GitRepo, commit: str, name: str) -> ModelConfig:
    """``models/<name>/model.yaml`` at ``commit``, validated; raises as
    :func:`environment_config_at` does."""
    rel = model_config_path(name)
    return parse_model_config(repo.read_file(commit, rel), source=rel, expected_name=name)
