"""The Gemma demo model: assembled once outside git, added to a real models repo."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from llm_platform.config.schema import ModelConfig
from llm_platform.demo.gemma import (
    EXAMPLE_SUITE,
    GEMMA_MODEL,
    GEMMA_TERMS_URL,
    add_gemma_to_repo,
    ensure_gemma_artifact,
    render_gemma_model_yaml,
)
from llm_platform.demo.repo import ensure_demo_repo
from llm_platform.serving.engines import ArtifactFormat, detect_format


def test_artifact_is_assembled_once(gemma_home: Path, gemma_artifact: Path) -> None:
    [gguf] = list(gemma_artifact.iterdir())
    assert gguf.stat().st_size == 253_113_024
    assert detect_format(gemma_artifact) is ArtifactFormat.GGUF
    before = gguf.stat().st_ino
    assert ensure_gemma_artifact(gemma_home) == gemma_artifact
    assert gguf.stat().st_ino == before  # kept, not reassembled
    # Nothing but the model file in the artifact directory (the digest covers the directory).
    assert [p.name for p in gemma_artifact.iterdir()] == [gguf.name]


def test_a_truncated_file_is_reassembled(tmp_path: Path) -> None:
    # What an interrupted copy would leave behind.
    partial = tmp_path / "models" / GEMMA_MODEL / "gemma-3-270m-q4_k_m.gguf"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"GGUF" + bytes(1000))
    assert ensure_gemma_artifact(tmp_path) == partial.parent
    assert partial.stat().st_size == 253_113_024


def test_model_yaml_points_at_this_machines_artifact(tmp_path: Path) -> None:
    doc = yaml.safe_load(render_gemma_model_yaml(tmp_path / "home"))
    config = ModelConfig.model_validate(doc, context={"expected_name": GEMMA_MODEL})
    assert config.serving is not None and config.serving.engine == "llama-cpp"
    assert config.serving.max_sequence_length == 1024
    assert config.source is not None and config.source.type == "local"
    assert config.source.uri == str((tmp_path / "home" / "models" / GEMMA_MODEL).resolve())


def test_gemma_is_committed_to_the_models_repo_once(gemma_home: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    ensure_demo_repo(repo)
    assert add_gemma_to_repo(repo, gemma_home)
    assert not add_gemma_to_repo(repo, gemma_home)
    log = subprocess.run(
        ["git", "-C", str(repo), "log", "--format=%s", "-1"], capture_output=True, text=True
    ).stdout
    assert GEMMA_TERMS_URL in log
    tracked = subprocess.run(
        ["git", "-C", str(repo), "ls-files"], capture_output=True, text=True
    ).stdout.split()
    assert f"models/{GEMMA_MODEL}/model.yaml" in tracked
    assert f"evals/{GEMMA_MODEL}.yaml" in tracked  # its output-quality suite, same commit
    assert (repo / "evals" / f"{GEMMA_MODEL}.yaml").read_bytes() == EXAMPLE_SUITE.read_bytes()
    assert not [p for p in tracked if p.endswith(".gguf")]
