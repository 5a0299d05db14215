"""Configuration problems as GitHub Actions workflow commands (inline pull-request annotations).

``llm-platform validate --format github`` prints one ``::error file=…,line=…,title=…::…`` line
per problem. GitHub shows it on the pull request's diff at that file and line when the path is
relative to the repository root, so paths are made relative to the git work tree that holds the
file (the checkout), not to the directory ``validate`` was started from.

Escaping follows the Actions toolkit (``packages/core/src/command.ts``): in the message
``%``, ``\\r`` and ``\\n``; in property values also ``:`` and ``,`` (they separate properties).
"""

from __future__ import annotations

import os
from pathlib import Path

from llm_platform.config.problems import Problem

_DATA_ESCAPES = (("%", "%25"), ("\r", "%0D"), ("\n", "%0A"))
_PROPERTY_ESCAPES = (*_DATA_ESCAPES, (":", "%3A"), (",", "%2C"))


def escape_data(text: str) -> str:
    """Escape a workflow command's message (``%`` first, so escapes are not doubled)."""
    for raw, escaped in _DATA_ESCAPES:
        text = text.replace(raw, escaped)
    return text


def escape_property(text: str) -> str:
    """Escape a workflow command's property value (``file=``, ``title=``)."""
    for raw, escaped in _PROPERTY_ESCAPES:
        text = text.replace(raw, escaped)
    return text


def work_tree_root(path: Path) -> Path | None:
    """The nearest directory at or above ``path`` that holds ``.git`` (dir or worktree file)."""
    current = path if path.is_dir() else path.parent
    for candidate in (current, *current.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def repo_relative(path: str, *, cwd: Path | None = None) -> str:
    """``path`` relative to the root of the git work tree that contains it, with ``/``.

    Outside any work tree the path is made relative to ``cwd`` when it lies below it, else it is
    returned as given (GitHub then shows the annotation on the run, not on the diff).
    """
    base = cwd or Path.cwd()
    absolute = Path(os.path.abspath(base / path))
    root = work_tree_root(absolute)
    for anchor in (root, Path(os.path.abspath(base))):
        if anchor is not None and absolute.is_relative_to(anchor):
            return absolute.relative_to(anchor).as_posix()
    return path


def workflow_command(problem: Problem, *, cwd: Path | None = None) -> str:
    """One ``::error`` line for ``problem``; the title is the offending field when known."""
    properties = [f"file={escape_property(repo_relative(problem.path, cwd=cwd))}"]
    if problem.line is not None:
        properties.append(f"line={problem.line}")
    title = problem.field or "llm-platform validate"
    properties.append(f"title={escape_property(title)}")
    return f"::error {','.join(properties)}::{escape_data(problem.message)}"
