"""``llm-platform validate``: exit codes, text lines and JSON shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from llm_platform.cli import validate_cmd
from tests.helpers.config_fixtures import model_dict, write_repo
from tests.helpers.paths import REPO_ROOT

REPO = REPO_ROOT
EXAMPLES = REPO / "examples" / "models-repo"
ENTRY_POINT = REPO / ".venv" / "bin" / "llm-platform"


def make_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """A group, like the real app once several commands are registered."""

    validate_cmd.register(app)
    return app


@pytest.fixture()
def run():  # noqa: ANN201
    runner = CliRunner()
    app = make_app()

    def _run(*args: str):  # noqa: ANN202
        return runner.invoke(app, ["validate", *args])

    return _run


def test_valid_repo_exits_zero(run, tmp_path: Path) -> None:  # noqa: ANN001
    root = write_repo(tmp_path)
    result = run(str(root))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "valid" in result.stderr and "2 file(s)" in result.stderr


def test_invalid_repo_lines_start_with_path_and_name_field(run, tmp_path: Path) -> None:  # noqa: ANN001
    root = write_repo(
        tmp_path,
        {"good": model_dict(name="good"), "bad": model_dict(name="bad", version="1.0", nmae="x")},
    )
    result = run(str(root))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    bad_file = str(root / "models" / "bad" / "model.yaml")
    assert len(lines) == 2
    assert all(line.startswith(bad_file + ":") for line in lines)
    assert any(": nmae: unknown key" in line for line in lines)
    assert any(": version: " in line and "semantic version" in line for line in lines)
    assert "invalid" in result.stderr and "2 problem(s)" in result.stderr


def test_json_format(run, tmp_path: Path) -> None:  # noqa: ANN001
    root = write_repo(tmp_path, {"bad": model_dict(name="bad", resources={"memory_gb": 8})})
    result = run(str(root), "--format", "json")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["valid"] is False and payload["files"] == 2
    assert payload["problems"] == [
        {
            "path": str(root / "models" / "bad" / "model.yaml"),
            "line": 5,
            "field": "resources.gpu_count",
            "message": "required key is missing",
        }
    ]
    ok = json.loads(run(str(EXAMPLES), "--format", "json").stdout)
    assert ok["valid"] is True and ok["problems"] == [] and ok["files"] >= 4


def test_bad_format_is_a_usage_error(run) -> None:  # noqa: ANN001
    result = run(str(EXAMPLES), "--format", "xml")
    assert result.exit_code == 2


def test_default_path_is_current_directory(
    run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    write_repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert run().exit_code == 0
    monkeypatch.chdir(tmp_path / "config")
    result = run()
    assert result.exit_code == 1 and result.stdout.startswith(".: not a models repository")


def test_multiple_paths_and_missing_path(run, tmp_path: Path) -> None:  # noqa: ANN001
    root = write_repo(tmp_path / "repo")
    result = run(str(root), str(tmp_path / "nope"))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [f"{tmp_path / 'nope'}: path does not exist"]


def test_installed_entry_point_validates_examples() -> None:
    result = subprocess.run(
        [str(ENTRY_POINT), "validate", str(EXAMPLES), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["valid"] is True


def test_module_entry_reports_invalid_with_exit_one(tmp_path: Path) -> None:
    root = write_repo(tmp_path, {"x": model_dict(name="y")})
    code = (
        "import sys, typer; from llm_platform.cli import validate_cmd\n"
        "app = typer.Typer()\n"
        "app.callback()(lambda: None)\n"
        "validate_cmd.register(app)\n"
        "app(sys.argv[1:])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "validate", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout.startswith(str(root / "models" / "x" / "model.yaml") + ":1: name: ")


def test_cluster_only_keys_are_listed_not_dropped(run) -> None:  # noqa: ANN001
    from llm_platform.config.applicability import CLUSTER_ONLY_KEYS

    payload = json.loads(run(str(EXAMPLES), "--format", "json").stdout)
    on_cluster = [k for k in payload["cluster_only"] if k["applies_on"] == "kubernetes"]
    listed = {(k["env"], k["key"]) for k in on_cluster}
    assert listed == {(env, key) for env in ("staging", "production") for key in CLUSTER_ONLY_KEYS}
    # Staging's rollout keys are noted as production-only (staging replaces in one step).
    production_only = {
        k["key"]: k["value"] for k in payload["cluster_only"] if k["applies_on"] == "production"
    }
    assert production_only == {
        "deployment.strategy": "rolling-update",
        "deployment.max_surge": 1,
        "deployment.max_unavailable": 1,
    }  # what examples/models-repo/config/staging.yaml sets, nothing it leaves unset
    staging_selector = next(
        k
        for k in payload["cluster_only"]
        if (k["env"], k["key"]) == ("staging", "cluster.gpu_node_selector")
    )
    assert staging_selector["value"] == {"node-type": "gpu-v100"}  # the configured value
    text = run(str(EXAMPLES))
    assert text.exit_code == 0 and text.stdout == ""
    assert "staging: autoscaling.max_replicas = 5 applies on the kubernetes target" in text.stderr
    assert (
        "staging: deployment.strategy = 'rolling-update' applies to production only (staging "
        "replaces its revision with the candidate in one step)"
    ) in text.stderr


def test_home_models_are_allowed_when_the_variable_is_unset(
    run,  # noqa: ANN001
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """From a plain shell after ``make demo``: Gemma's source is in the home's models dir."""
    from llm_platform.settings import ALLOWED_SOURCE_PATHS_ENV, HOME_ENV

    home = tmp_path / "home"
    weights = home / "models" / "llama-3-1-8b"
    source = {"type": "local", "uri": str(weights)}
    root = write_repo(tmp_path / "repo", {"llama-3-1-8b": model_dict(source=source)})
    monkeypatch.setenv(HOME_ENV, str(home))
    monkeypatch.delenv(ALLOWED_SOURCE_PATHS_ENV, raising=False)
    refused = run(str(root))  # no home models directory: nothing is allowed
    assert refused.exit_code == 1 and ALLOWED_SOURCE_PATHS_ENV in refused.stdout
    weights.mkdir(parents=True)
    allowed = run(str(root))
    assert allowed.exit_code == 0, allowed.output
    assert f"allowing this home's models {home / 'models'}" in allowed.stderr
    monkeypatch.setenv(ALLOWED_SOURCE_PATHS_ENV, str(tmp_path / "elsewhere"))
    assert run(str(root)).exit_code == 1  # the operator's list wins over the home's
