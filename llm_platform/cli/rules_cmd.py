"""``llm-platform rules``: print the Prometheus rules generated from an environment's SLOs."""

from __future__ import annotations

from pathlib import Path

import typer

from llm_platform.cli.options import EnvOption, RepoOption, fail, models_repo_location
from llm_platform.config import ConfigError
from llm_platform.config.slo_rules_source import load_checkout, rules_for
from llm_platform.slo.rules import rules_yaml


def rules(env: EnvOption, repo: RepoOption = None) -> None:
    """Print the rule groups (recording rules and multiwindow burn-rate alerts) of ENV's SLOs
    and the models' overrides as YAML (a Prometheus rule file); exit 2 on configuration
    errors."""
    root = Path(models_repo_location(repo))
    try:
        env_cfg, models = load_checkout(root, env)
        groups = rules_for(env_cfg, models)
    except (ConfigError, ValueError) as exc:
        raise fail(str(exc)) from exc
    except OSError as exc:
        raise fail(f"{root}: {exc}") from exc
    typer.echo(rules_yaml(groups), nl=False)


def register(app: typer.Typer) -> None:
    """Add the ``rules`` command to the ``llm-platform`` app."""
    app.command("rules")(rules)
