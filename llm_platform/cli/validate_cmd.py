"""``llm-platform validate``: check model and environment configs, one problem per line."""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from llm_platform.cli.home_defaults import cli_allowed_source_paths
from llm_platform.common.errors import EXIT_FAIL, EXIT_OK
from llm_platform.config import validate_report
from llm_platform.config.github_format import workflow_command
from llm_platform.config.problems import Problem


class ValidateFormat(StrEnum):
    """How ``validate`` prints its result."""

    text = "text"
    json = "json"
    github = "github"


def validate(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Models repo roots, model directories or config files (default: '.').",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        ValidateFormat, typer.Option("--format", help="Output format.", case_sensitive=False)
    ] = ValidateFormat.text,
) -> None:
    """Validate model.yaml and config/<env>.yaml files; exit 1 when any is invalid."""
    report = validate_report(paths or [Path(".")], allowed_source_paths=cli_allowed_source_paths())
    if output is ValidateFormat.json:
        payload = {
            "valid": report.valid,
            "files": len(report.files),
            "problems": [problem.model_dump() for problem in report.problems],
            "cluster_only": [key.model_dump(mode="json") for key in report.cluster_only],
        }
        typer.echo(json.dumps(payload, indent=2))
    else:
        # github: workflow commands, which GitHub turns into annotations on the pull request.
        render: Callable[[Problem], str] = (
            workflow_command if output is ValidateFormat.github else str
        )
        for problem in report.problems:
            typer.echo(render(problem))
        stderr = Console(stderr=True)
        for key in report.cluster_only:
            stderr.print(f"note: {key}", highlight=False, markup=False, soft_wrap=True)
        files = len(report.files)
        if report.valid:
            stderr.print(f"[green]valid[/green]: {files} file(s), no problems")
        else:
            bad = len({problem.path for problem in report.problems})
            stderr.print(
                f"[red]invalid[/red]: {len(report.problems)} problem(s) in {bad} path(s) "
                f"({files} file(s) checked)",
                highlight=False,
            )
    raise typer.Exit(EXIT_OK if report.valid else EXIT_FAIL)


def register(app: typer.Typer) -> None:
    """Add the ``validate`` command to the ``llm-platform`` app."""
    app.command("validate")(validate)
