"""Loading from disk and validating whole repositories / directories / files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from llm_platform.config import (
    ConfigError,
    load_environment,
    load_environment_config,
    load_model_config,
    validate_paths,
    validate_report,
)
from tests.helpers.config_fixtures import model_dict, to_yaml, write_repo
from tests.helpers.paths import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples" / "models-repo"


def test_load_model_config_checks_name_against_directory(tmp_path: Path) -> None:
    root = write_repo(tmp_path, {"mistral-7b": model_dict()})
    with pytest.raises(ConfigError) as info:
        load_model_config(root / "models" / "mistral-7b" / "model.yaml", repo_root=root)
    (problem,) = info.value.problems
    assert problem.field == "name" and "mistral-7b" in problem.message
    assert problem.path.endswith("models/mistral-7b/model.yaml") and problem.line == 1


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_model_config(tmp_path / "models" / "x" / "model.yaml")
    assert "file not found" in str(info.value)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    (tmp_path / "model.yaml").mkdir()
    with pytest.raises(ConfigError, match="not a regular file"):
        load_model_config(tmp_path / "model.yaml")


def test_oversize_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    target = tmp_path / "x" / "model.yaml"
    target.parent.mkdir()
    with open(target, "wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: 50 MiB of zeros
    with pytest.raises(ConfigError, match="limit is 1048576 bytes"):
        load_model_config(target)


def test_symlink_escaping_the_repo_is_refused(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "repo")
    outside = tmp_path / "outside.yaml"
    outside.write_bytes(to_yaml(model_dict(name="evil")))
    (root / "models" / "evil").mkdir()
    (root / "models" / "evil" / "model.yaml").symlink_to(outside)
    with pytest.raises(ConfigError, match="outside the repository"):
        load_model_config(root / "models" / "evil" / "model.yaml", repo_root=root)
    problems = validate_paths([root])
    assert len(problems) == 1 and "outside the repository" in problems[0].message


def test_symlink_inside_the_repo_is_fine(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "repo")
    shared = root / "shared.yaml"
    shared.write_bytes(to_yaml(model_dict(name="alias")))
    (root / "models" / "alias").mkdir()
    (root / "models" / "alias" / "model.yaml").symlink_to(shared)
    assert load_model_config(root / "models" / "alias" / "model.yaml", repo_root=root).name == (
        "alias"
    )


def test_environment_loading(tmp_path: Path) -> None:
    root = write_repo(tmp_path)
    env = load_environment(root, "staging")
    assert env.environment == "staging" and env.slo.min_requests == 50
    with pytest.raises(ConfigError, match="file not found"):
        load_environment(root, "production")
    shutil.copy(root / "config" / "staging.yaml", root / "config" / "prod.yaml")
    with pytest.raises(ConfigError) as info:
        load_environment_config(root / "config" / "prod.yaml")
    assert info.value.problems[0].field == "environment"


def test_examples_repo_is_valid() -> None:
    report = validate_report([EXAMPLES])
    assert report.problems == []
    assert len(report.files) >= 4
    production = load_environment(EXAMPLES, "production")
    assert production.deployment.strategy == "shadow"
    assert production.deployment.approval_required is True
    assert production.approvers == ["alice", "bob"]
    for model_file in sorted((EXAMPLES / "models").glob("*/model.yaml")):
        model = load_model_config(model_file, repo_root=EXAMPLES)
        assert model.source is not None and model.source.uri == "weights/tiny-shakespeare"


def test_validate_repo_reports_every_bad_file(tmp_path: Path) -> None:
    root = write_repo(
        tmp_path,
        {
            "good": model_dict(name="good"),
            "bad-name": model_dict(name="other"),
            "bad-memory": model_dict(name="bad-memory", resources={"memory_gb": 8, "gpu_count": 4}),
        },
    )
    (root / "models" / "empty-dir").mkdir()
    (root / "models" / "README.md").write_text("not a model\n")
    (root / "config" / "production.yaml").write_bytes(b"environment: production\nnamespace: x\n")
    report = validate_report([root])
    by_path = {(Path(p.path).relative_to(root).as_posix(), p.field) for p in report.problems}
    assert by_path == {
        ("models/bad-name/model.yaml", "name"),
        ("models/bad-memory/model.yaml", "resources.memory_gb"),
        ("models/empty-dir", None),
        ("config/production.yaml", "deployment"),
    }
    assert len(report.files) == 5


def test_validate_model_directory_and_file(tmp_path: Path) -> None:
    root = write_repo(tmp_path)
    model_dir = root / "models" / "llama-3-1-8b"
    assert validate_paths([model_dir]) == []
    assert validate_paths([model_dir / "model.yaml"]) == []
    assert validate_paths([root / "config" / "staging.yaml"]) == []
    os.remove(model_dir / "model.yaml")
    (problem,) = validate_paths([model_dir])
    assert "no model.yaml" in problem.message and problem.path == str(model_dir)


def test_validate_odd_paths(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hi")
    problems = validate_paths([tmp_path / "missing", tmp_path, tmp_path / "notes.txt"])
    assert [p.path for p in problems] == [
        str(tmp_path / "missing"),
        str(tmp_path),
        str(tmp_path / "notes.txt"),
    ]
    assert "does not exist" in problems[0].message
    assert "not a models repository" in problems[1].message
