"""The registration use case: what is scanned, exported and registered, and each outcome.

A real git repo of models; the registrar and the registry are fakes that record what they were
given (the pipeline itself is covered by test_pipeline.py and tests/assets/test_registration.py).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from llm_platform.artifact_store.records import RegistryRecord
from llm_platform.config import ModelConfig, model_config_path, parse_model_config
from llm_platform.gitops import GitRepo
from llm_platform.registration import ArtifactUnsafeError, RegistrationError, RegistrationResult
from llm_platform.registration.register import (
    NO_RUN_URL,
    ArtifactRefused,
    LeakedSecrets,
    NothingToRegisterError,
    Registered,
    RegistrationFailed,
    register_model,
    scan_model_files,
)
from llm_platform.security import scan_path
from tests.helpers.models_repo import ModelsRepo
from tests.helpers.repo_scan_fixtures import plant_secrets
from tests.helpers.security_fixtures import malicious_pickle


def _config(repo: ModelsRepo, name: str = "alpha") -> ModelConfig:
    rel = model_config_path(name)
    return parse_model_config((repo.path / rel).read_text(), source=rel, expected_name=name)


def _record(config: ModelConfig, sha: str, *, files: int = 2) -> RegistryRecord:
    return RegistryRecord.model_validate(
        {
            "name": config.name,
            "version": config.version,
            "digest": "d" * 64,
            "files": [{"path": f"f{i}", "size": 10, "sha256": "0" * 64} for i in range(files)],
            "total_size": 10 * files,
            "source_uri": "weights/alpha",
            "commit_sha": sha,
            "config_hash": "c" * 64,
            "kfp_run_id": "local-1",
            "scan_summary": {"files": files, "unsafe": 0},
            "scan_safe": True,
            "artifact_uri": "/store/alpha/files/",
        }
    )


class FakeRegistrar:
    """Records the exported checkout; returns a result, or raises what it is given."""

    def __init__(self, raises: Exception | None = None) -> None:
        self.raises = raises
        self.seen: list[str] = []

    def register(self, *, config, models_repo_dir: Path, commit_sha: str, run_id: str):
        self.seen = sorted(
            str(p.relative_to(models_repo_dir)) for p in models_repo_dir.rglob("*") if p.is_file()
        )
        if self.raises is not None:
            raise self.raises
        return RegistrationResult(
            record=_record(config, commit_sha),
            kfp_run_id="local-1",
            kfp_run_url=None,
            scan_report_json="{}",
            duration_s=1.23456,
        )


class FakeRegistry:
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems

    def verify_problems(self, record: RegistryRecord) -> list[str]:
        return self.problems


@contextmanager
def _scratch(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


def _register(models_repo: ModelsRepo, registrar: FakeRegistrar, problems=()):
    repo = GitRepo(str(models_repo.path))
    return register_model(
        repo,
        models_repo.head(),
        _config(models_repo),
        registrar=registrar,  # type: ignore[arg-type]
        registry=FakeRegistry(list(problems)),  # type: ignore[arg-type]
        scratch_dir=_scratch,
        max_artifact_bytes=1 << 20,
        run_id="run-1",
    )


@pytest.fixture
def with_weights(models_repo: ModelsRepo) -> ModelsRepo:
    models_repo.write("weights/alpha/model.txt", "committed bytes\n")
    models_repo.commit("alpha weights")
    return models_repo


def test_the_local_source_is_exported_from_the_commit_not_the_work_tree(with_weights) -> None:
    (with_weights.path / "weights/alpha/uncommitted.txt").write_text("work tree only\n")
    registrar = FakeRegistrar()
    outcome = _register(with_weights, registrar)
    assert registrar.seen == ["weights/alpha/model.txt"]
    assert isinstance(outcome, Registered) and outcome.problems == []
    assert outcome.kfp_run_url == NO_RUN_URL and outcome.seconds == pytest.approx(1.23, abs=0.01)
    assert outcome.scan_counts == {"files": 2, "unsafe": 0}
    assert outcome.integrity_problems is None
    assert outcome.log_line == (
        "registered alpha 1.0.0 digest dddddddddddd (2 files, 20 bytes, reused=False)"
    )


def test_integrity_problems_are_part_of_the_outcome(with_weights) -> None:
    outcome = _register(with_weights, FakeRegistrar(), problems=["f0: sha256 mismatch", "f1"])
    assert isinstance(outcome, Registered)
    assert outcome.integrity_problems == "f0: sha256 mismatch; f1"


def test_an_unsafe_artifact_is_refused_with_its_scan(with_weights, tmp_path: Path) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad/model.pkl").write_bytes(malicious_pickle(tmp_path / "marker"))
    report = scan_path(tmp_path / "bad")
    outcome = _register(with_weights, FakeRegistrar(ArtifactUnsafeError("refused", report)))
    assert isinstance(outcome, ArtifactRefused)
    assert outcome.description == "refused" and outcome.summary == report.summary
    assert [f["path"] for f in outcome.unsafe_files] == ["model.pkl"]
    assert all(isinstance(v, int) for v in outcome.scan_counts.values())


def test_a_failed_step_is_a_failed_outcome(with_weights) -> None:
    outcome = _register(with_weights, FakeRegistrar(RegistrationError("fetch: too large")))
    assert isinstance(outcome, RegistrationFailed) and str(outcome.error) == "fetch: too large"


def test_a_config_without_source_has_nothing_to_register(models_repo: ModelsRepo) -> None:
    text = (models_repo.path / "models/alpha/model.yaml").read_text()
    models_repo.write("models/alpha/model.yaml", text.split("source:")[0])
    sha = models_repo.commit("no source")
    with pytest.raises(NothingToRegisterError, match="no 'source:' block, nothing to register"):
        scan_model_files(GitRepo(str(models_repo.path)), sha, _config(models_repo))


def test_leaked_secrets_refuse_registration_by_counts(models_repo: ModelsRepo) -> None:
    plant_secrets(models_repo, "alpha")
    sha = models_repo.commit("oops")
    report = scan_model_files(GitRepo(str(models_repo.path)), sha, _config(models_repo))
    assert not report.safe
    leaked = LeakedSecrets.of(report, "alpha", sha)
    assert leaked.findings == len(report.blocking()) and leaked.files >= 1
    assert leaked.reason.startswith(f"alpha: {leaked.findings} secret(s) in the model's files at ")
    assert sha[:12] in leaked.reason
