"""Options and error exits shared by the subcommands (one wording, one behaviour)."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from llm_platform.common.errors import EXIT_USAGE
from llm_platform.settings import MODELS_REPO_ENV

#: ``--env ENV``: the environment whose ``config/ENV.yaml`` is read.
EnvOption = Annotated[str, typer.Option("--env", help="Environment: reads config/ENV.yaml.")]
#: ``--model NAME``: a model of the models repo.
ModelOption = Annotated[str, typer.Option("--model", help="Model name (models/NAME/model.yaml).")]
#: ``--repo PATH``: the models repo (default: ``$LLM_PLATFORM_MODELS_REPO``, else ``.``).
RepoOption = Annotated[
    Path | None,
    typer.Option("--repo", help="Models repo root (default: $LLM_PLATFORM_MODELS_REPO, else '.')."),
]


def models_repo_location(repo: Path | None) -> str:
    """The models repo a command reads: ``--repo``, else ``$LLM_PLATFORM_MODELS_REPO``, else the
    current directory (a path, or a git URL where the command accepts one)."""
    return str(repo) if repo else os.environ.get(MODELS_REPO_ENV) or "."


class OutputFormat(StrEnum):
    """``--format text|json``: a human report or one JSON document on stdout."""

    text = "text"
    json = "json"


#: ``--format text|json`` (anything else is a usage error, exit 2).
FormatOption = Annotated[
    OutputFormat, typer.Option("--format", help="Output format.", case_sensitive=False)
]


def fail(message: str, code: int = EXIT_USAGE, *, label: str = "error") -> typer.Exit:
    """Print ``label: message`` on stderr and return the exit to raise."""
    Console(stderr=True, soft_wrap=True).print(f"[red]{label}[/red]: {message}", highlight=False)
    return typer.Exit(code)


#: Width of tables printed to a pipe or a file: wide enough for paths and digests, so that
#: ``stack status | less`` or a CI log is not cut into 80-column cells (rich's default).
PIPE_WIDTH = 240


def table_console(*, stderr: bool = False) -> Console:
    """A console for tables: the terminal's width on a terminal, :data:`PIPE_WIDTH` elsewhere
    (``COLUMNS`` still wins)."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty() or os.environ.get("COLUMNS"):
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=PIPE_WIDTH)
