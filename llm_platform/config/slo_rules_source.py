"""Where the SLO rules come from: a models repo checkout, or a commit of the models repo.

Both read ``config/<env>.yaml`` and every ``models/<name>/model.yaml`` and hand the parsed
configs to :func:`llm_platform.slo.rules.generate_rules`; an invalid file is a
:class:`~llm_platform.config.ConfigError` naming it (rules from a half-read repo would silently
drop a model's thresholds). It lives in the config package, beside :func:`effective_slo`,
because the SLO package sits below the config package (the schema validates against its
objective registry) and must not read config files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from llm_platform.common.repo_layout import (
    MODEL_FILE,
    MODELS_DIR,
    model_config_path,
)
from llm_platform.config.at_commit import environment_config_at
from llm_platform.config.environment import EnvironmentConfig, effective_slo
from llm_platform.config.loading import (
    load_environment,
    load_model_config,
    parse_model_config,
)
from llm_platform.config.schema import ModelConfig
from llm_platform.gitops import GitPathNotFoundError, GitRepo
from llm_platform.gitops.batch import read_files
from llm_platform.slo.profiles import profile_for_engine
from llm_platform.slo.rules import RulesTarget, generate_rules


def rules_for(
    env_cfg: EnvironmentConfig, models: dict[str, ModelConfig], *, only: str | None = None
) -> dict[str, Any]:
    """The rule groups of ``env_cfg`` for ``models`` (see :func:`generate_rules`)."""
    targets = {
        name: RulesTarget(
            profile=profile_for_engine(getattr(cfg.serving, "engine", None)),
            objectives=effective_slo(env_cfg, cfg),
        )
        for name, cfg in sorted(models.items())
    }
    return generate_rules(env_cfg.environment, env_cfg.namespace, env_cfg.slo, targets, only=only)


def load_checkout(root: Path, env: str) -> tuple[EnvironmentConfig, dict[str, ModelConfig]]:
    """The environment and every model of a checkout at ``root``.

    Raises:
        ConfigError: A file is missing or invalid (the message names it).
    """
    env_cfg = load_environment(root, env)
    models: dict[str, ModelConfig] = {}
    models_dir = root / MODELS_DIR
    if models_dir.is_dir():
        for entry in sorted(os.scandir(models_dir), key=lambda e: e.name):
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            if not (models_dir / entry.name / MODEL_FILE).exists():
                continue
            path = root / model_config_path(entry.name)
            models[entry.name] = load_model_config(path, repo_root=root)
    return env_cfg, models


def rules_at(repo: GitRepo, commit: str, envs: list[str]) -> dict[str, dict[str, Any]]:
    """The rule groups of the environments of ``envs`` the models repo has at ``commit``
    (an environment without ``config/<env>.yaml`` there has no rules).

    Raises:
        ConfigError: An environment or model file is invalid (the message names it).
        GitError: The commit or a model file cannot be read.
    """
    names = sorted(repo.models_at(commit))
    files = read_files(repo, [(commit, model_config_path(m)) for m in names])
    models = {
        m: parse_model_config(
            files[(commit, model_config_path(m))], source=model_config_path(m), expected_name=m
        )
        for m in names
    }
    out = {}
    for env in envs:
        try:
            cfg = environment_config_at(repo, commit, env)
        except GitPathNotFoundError:
            continue
        out[env] = rules_for(cfg, models)
    return out
