"""Artifacts move in constant memory: streamed git export, sparse copies, a size limit, and no
copies left behind under the pipeline root. (Peak memory is measured in
bench/bench_register_memory.py, not asserted here.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from llm_platform.artifact_store import LocalDirStore
from llm_platform.artifact_store.artifact_io import ArtifactTooLargeError
from llm_platform.common.digest import hash_file
from llm_platform.common.errors import ConfigurationError
from llm_platform.gitops import GitRepo
from llm_platform.registration import LocalKfpRegistrar, RegistrationError
from llm_platform.registration.registrars import RUNS_DIR
from llm_platform.registration.sources import materialize_source
from llm_platform.settings import (
    DEFAULT_MAX_ARTIFACT_BYTES,
    MAX_ARTIFACT_BYTES_ENV,
    max_artifact_bytes_from_env,
)
from tests.helpers.registry_fixtures import model_config

SPARSE_SIZE = 64 * 1024 * 1024
HEADER = b"weights-header" * 100


def _sparse_file(path: Path) -> str:
    """A 64 MiB file holding a small header and then a hole; returns its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(HEADER)
        f.truncate(SPARSE_SIZE)
    return hash_file(path)[0]


def _allocated(path: Path) -> int:
    return path.stat().st_blocks * 512


def test_export_streams_and_keeps_sparse_files_sparse(models_repo, tmp_path: Path) -> None:  # noqa: ANN001
    sha256 = _sparse_file(models_repo.path / "weights" / "big" / "model.bin")
    commit = models_repo.commit("a big sparse weights file")
    out = GitRepo(str(models_repo.path)).export(commit, "weights/big", tmp_path / "x")
    exported = out / "model.bin"
    assert exported.stat().st_size == SPARSE_SIZE
    assert hash_file(exported)[0] == sha256
    assert _allocated(exported) < SPARSE_SIZE // 8  # holes, not 64 MiB of written zeros

    store = LocalDirStore(tmp_path / "store")
    store.put_file("k/model.bin", exported)
    stored = tmp_path / "store" / "k" / "model.bin"
    assert hash_file(stored)[0] == sha256 and _allocated(stored) < SPARSE_SIZE // 8
    entry = store.put_file("k/again.bin", exported)
    store.download("k/again.bin", tmp_path / "dl" / "model.bin", expected=entry)
    assert _allocated(tmp_path / "dl" / "model.bin") < SPARSE_SIZE // 8


def test_oversize_export_and_source_are_refused_before_copying(models_repo, tmp_path: Path) -> None:  # noqa: ANN001
    _sparse_file(models_repo.path / "weights" / "big" / "model.bin")
    commit = models_repo.commit("big")
    with pytest.raises(
        ArtifactTooLargeError,
        match=f"over the artifact size limit of 1000 bytes \\({MAX_ARTIFACT_BYTES_ENV}\\)",
    ) as info:
        GitRepo(str(models_repo.path)).export(commit, "weights/big", tmp_path / "x", max_bytes=1000)
    assert f"is {SPARSE_SIZE} bytes" in str(info.value)
    assert not (tmp_path / "x" / "weights").exists()

    with pytest.raises(ArtifactTooLargeError, match=MAX_ARTIFACT_BYTES_ENV):
        materialize_source(
            "local", "weights/big", tmp_path / "d", models_repo_dir=models_repo.path, max_bytes=1000
        )
    assert list((tmp_path / "d").iterdir()) == []


def test_max_artifact_bytes_setting() -> None:
    assert max_artifact_bytes_from_env({}) == DEFAULT_MAX_ARTIFACT_BYTES == 64 * 1024**3
    assert max_artifact_bytes_from_env({MAX_ARTIFACT_BYTES_ENV: "2048"}) == 2048
    for bad in ("0", "-5", "64GiB"):
        with pytest.raises(ConfigurationError, match=MAX_ARTIFACT_BYTES_ENV):
            max_artifact_bytes_from_env({MAX_ARTIFACT_BYTES_ENV: bad})


def test_pipeline_refuses_oversize_artifact_and_leaves_no_copy(tmp_path: Path) -> None:
    weights = tmp_path / "repo" / "weights" / "w"
    weights.mkdir(parents=True)
    (weights / "model.bin").write_bytes(os.urandom(4096))
    registrar = LocalKfpRegistrar(
        tmp_path / "kfp", str(tmp_path / "store"), max_artifact_bytes=1000
    )
    with pytest.raises(RegistrationError, match="fetch-and-hash") as info:
        registrar.register(
            config=model_config("big", "1.0.0", "local", "weights/w"),
            models_repo_dir=tmp_path / "repo",
            commit_sha="b" * 40,
            run_id="too-big",
        )
    assert "4096 bytes, over the artifact size limit of 1000 bytes" in str(info.value)
    assert list((tmp_path / "kfp" / RUNS_DIR).iterdir()) == []
    assert not list((tmp_path / "kfp").rglob("model.bin"))


def test_prune_keeps_the_newest_finished_runs_and_every_running_one(tmp_path: Path) -> None:
    registrar = LocalKfpRegistrar(tmp_path / "kfp", str(tmp_path / "store"), keep_runs=1)
    runs = tmp_path / "kfp" / RUNS_DIR
    for i, name in enumerate(["old", "new"]):
        (runs / name / "m").mkdir(parents=True)
        marker = runs / name / "m" / ".finished"
        marker.touch()
        os.utime(marker, ns=(i * 10**9, i * 10**9))
    (runs / "running" / "m").mkdir(parents=True)
    registrar._prune_runs()
    assert sorted(p.name for p in runs.iterdir()) == ["new", "running"]
