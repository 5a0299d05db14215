"""``llm-platform validate`` checks a models repo's ``evals/*.yaml`` (text, json, github)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_platform.cli import _register, app
from llm_platform.common.repo_layout import eval_suite_path
from llm_platform.demo.gemma import EXAMPLE_SUITE
from tests.helpers.config_fixtures import write_repo

BAD = """\
cases:
  - id: a
    prompt: x
    expect: {regex: "(oops"}
  - id: a
    prompt: y
    expect: {equals: y}
"""


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    _register()
    return CliRunner()


def repo_with(tmp_path: Path, suites: dict[str, str]) -> Path:
    root = write_repo(tmp_path / "repo")
    for model, text in suites.items():
        path = root / eval_suite_path(model)
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    return root


def validate(cli: CliRunner, *args: str) -> tuple[int, str]:
    result = cli.invoke(app, ["validate", *args])
    return result.exit_code, result.stdout


def test_valid_suites_are_counted_and_pass(cli: CliRunner, tmp_path: Path) -> None:
    root = repo_with(tmp_path, {"llama-3-1-8b": EXAMPLE_SUITE.read_text()})
    code, out = validate(cli, str(root), "--format", "json")
    payload = json.loads(out)
    assert code == 0 and payload["valid"] is True
    assert payload["files"] == 3  # model.yaml, config/staging.yaml, evals/llama-3-1-8b.yaml


def test_invalid_suites_and_orphans_in_every_format(cli: CliRunner, tmp_path: Path) -> None:
    root = repo_with(tmp_path, {"llama-3-1-8b": BAD, "ghost": EXAMPLE_SUITE.read_text()})
    suite, ghost = root / "evals" / "llama-3-1-8b.yaml", root / "evals" / "ghost.yaml"
    code, out = validate(cli, str(root))
    assert code == 1
    assert out.splitlines() == [
        f"{ghost}: output-quality suite for model 'ghost', which does not exist "
        "(no models/ghost/model.yaml)",
        f"{suite}:4: cases[0].expect.regex: invalid regular expression: missing ), "
        "unterminated subpattern at position 0",
        f"{suite}:5: cases[1].id: duplicate case id 'a' (first used on line 2)",
    ]
    code, out = validate(cli, str(root), "--format", "json")
    problems = json.loads(out)["problems"]
    assert code == 1 and [(p["line"], p["field"]) for p in problems] == [
        (None, None),
        (4, "cases[0].expect.regex"),
        (5, "cases[1].id"),
    ]
    code, out = validate(cli, str(root), "--format", "github")
    assert code == 1
    assert out.splitlines()[2].startswith("::error file=")
    assert ",line=5,title=cases[1].id::duplicate case id 'a'" in out.splitlines()[2]


def test_a_single_suite_file_is_validated(cli: CliRunner, tmp_path: Path) -> None:
    root = repo_with(tmp_path, {"llama-3-1-8b": EXAMPLE_SUITE.read_text(), "ghost": BAD})
    assert validate(cli, str(root / "evals" / "llama-3-1-8b.yaml")) == (0, "")
    code, out = validate(cli, str(root / "evals" / "ghost.yaml"))
    assert code == 1 and len(out.splitlines()) == 3 and "does not exist" in out
