"""Local sources stay inside the models repo (or under the operator's allow-list), at validate
time and again at registration."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llm_platform.artifact_store import LocalDirStore, ModelRegistry
from llm_platform.common.errors import ConfigurationError
from llm_platform.config import validate_report
from llm_platform.registration import (
    LocalKfpRegistrar,
    RegistrationError,
    SourceNotAllowedError,
)
from llm_platform.registration.sources import local_source_path
from llm_platform.registration.steps import fetch_step
from llm_platform.settings import (
    ALLOWED_SOURCE_PATHS_ENV,
    Settings,
    allowed_source_paths_from_env,
)
from tests.helpers.config_fixtures import model_dict, write_repo
from tests.helpers.gguf_fixtures import write_gguf
from tests.helpers.registry_fixtures import model_config


def _repo_with_source(tmp_path: Path, uri: str) -> Path:
    data = model_dict(source={"type": "local", "uri": uri})
    return write_repo(tmp_path / "repo", {"llama-3-1-8b": data})


def _source_problems(root: Path, allowed: tuple[Path, ...] = ()) -> list[str]:
    report = validate_report([root], allowed_source_paths=allowed)
    assert all(p.field == "source.uri" for p in report.problems), report.problems
    return [p.message for p in report.problems]


@pytest.fixture()
def host_dir(tmp_path: Path) -> Path:
    """A directory outside the repo holding a "private key" and a weights file."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "id_rsa").write_text("-----BEGIN PRIVATE KEY-----\n")
    write_gguf(host / "model.gguf")  # a well-formed GGUF: the scanner passes it
    return host


def test_validate_refuses_absolute_path_naming_field_and_allow_list(
    tmp_path: Path, host_dir: Path
) -> None:
    root = _repo_with_source(tmp_path, str(host_dir))
    report = validate_report([root])
    [problem] = report.problems
    assert problem.field == "source.uri" and problem.line is not None
    assert str(host_dir) in problem.message
    assert f"{ALLOWED_SOURCE_PATHS_ENV} is not set" in problem.message
    # Allow-listed by the operator: accepted, for a directory and for a file under it.
    assert _source_problems(root, (host_dir,)) == []
    file_root = _repo_with_source(tmp_path / "f", str(host_dir / "model.gguf"))
    assert _source_problems(file_root, (host_dir,)) == []
    # Another allow-listed directory does not cover it.
    [other] = _source_problems(root, (tmp_path / "elsewhere",))
    assert f"{ALLOWED_SOURCE_PATHS_ENV}={tmp_path / 'elsewhere'}" in other


def test_validate_refuses_dotdot_and_escaping_symlinks(tmp_path: Path, host_dir: Path) -> None:
    [dotdot] = _source_problems(_repo_with_source(tmp_path / "a", "../host"))
    assert "leaves the models repo ('..')" in dotdot
    root = _repo_with_source(tmp_path / "b", "weights/link")
    (root / "weights").mkdir()
    (root / "weights" / "link").symlink_to(host_dir)
    [link] = _source_problems(root)
    assert "outside the models repo" in link and str(host_dir.resolve()) in link
    # A symlink inside a weights directory that points out of the repo is refused too.
    root = _repo_with_source(tmp_path / "c", "weights/tiny")
    (root / "weights" / "tiny").mkdir(parents=True)
    (root / "weights" / "tiny" / "key").symlink_to(host_dir / "id_rsa")
    [inner] = _source_problems(root)
    assert "symlink" in inner and "key" in inner
    # Inside the repo: fine.
    root = _repo_with_source(tmp_path / "d", "weights/ok")
    (root / "weights" / "ok").mkdir(parents=True)
    assert _source_problems(root) == []


def test_validate_cli_reads_the_operator_allow_list(tmp_path: Path, host_dir: Path) -> None:
    import typer

    from llm_platform.cli import validate_cmd

    app = typer.Typer()
    app.callback()(lambda: None)
    validate_cmd.register(app)
    root = _repo_with_source(tmp_path, str(host_dir))
    runner = CliRunner()
    refused = runner.invoke(app, ["validate", str(root)], env={ALLOWED_SOURCE_PATHS_ENV: ""})
    assert refused.exit_code == 1 and "source.uri" in refused.stdout
    allowed = os.pathsep.join([str(tmp_path / "other"), str(host_dir)])
    accepted = runner.invoke(app, ["validate", str(root)], env={ALLOWED_SOURCE_PATHS_ENV: allowed})
    assert accepted.exit_code == 0, accepted.output


def test_allow_list_must_be_absolute(tmp_path: Path) -> None:
    env = {ALLOWED_SOURCE_PATHS_ENV: f"/models{os.pathsep}relative/dir"}
    with pytest.raises(ConfigurationError, match="'relative/dir' is not an absolute path"):
        allowed_source_paths_from_env(env)
    env = {ALLOWED_SOURCE_PATHS_ENV: f"/models{os.pathsep}{os.pathsep}/srv/w"}
    assert allowed_source_paths_from_env(env) == (Path("/models"), Path("/srv/w"))
    assert Settings.from_env(env, cwd=tmp_path).allowed_source_paths == (
        Path("/models"),
        Path("/srv/w"),
    )


def test_registration_refuses_host_paths_and_escapes_before_any_copy(
    tmp_path: Path, host_dir: Path
) -> None:
    repo = tmp_path / "repo"
    (repo / "weights").mkdir(parents=True)
    (repo / "weights" / "link").symlink_to(host_dir)
    registrar = LocalKfpRegistrar(tmp_path / "kfp", str(tmp_path / "store"))
    for uri, why in [
        (str(host_dir), f"{ALLOWED_SOURCE_PATHS_ENV} is not set"),
        ("weights/link", "outside the models repo"),
    ]:
        with pytest.raises(RegistrationError, match="outside") as info:
            registrar.register(
                config=model_config("leak", "1.0.0", "local", uri),
                models_repo_dir=repo,
                commit_sha="c" * 40,
                run_id="r",
            )
        assert isinstance(info.value.__cause__, SourceNotAllowedError)
        assert why in str(info.value)
    # Defence in depth: '..' (which the schema refuses) and the pipeline's own fetch step.
    with pytest.raises(SourceNotAllowedError, match=r"'\.\.'"):
        local_source_path("../host", repo)
    with pytest.raises(SourceNotAllowedError):
        fetch_step("local", str(host_dir), tmp_path / "out", "", local_roots=str(repo))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert not (tmp_path / "store").exists() or not list((tmp_path / "store").rglob("*.json"))


def test_allow_listed_host_file_registers(tmp_path: Path, host_dir: Path) -> None:
    registrar = LocalKfpRegistrar(
        tmp_path / "kfp", str(tmp_path / "store"), allowed_source_paths=[host_dir]
    )
    result = registrar.register(
        config=model_config("gguf", "1.0.0", "local", str(host_dir / "model.gguf")),
        models_repo_dir=tmp_path / "empty-checkout",
        commit_sha="a" * 40,
        run_id="r-allowed",
    )
    record = result.record
    assert [f.path for f in record.files] == ["model.gguf"]
    assert record.source_uri == str((host_dir / "model.gguf").resolve())
    assert ModelRegistry(LocalDirStore(tmp_path / "store")).verify(record)
    assert list((tmp_path / "kfp" / "runs").iterdir()) == []
