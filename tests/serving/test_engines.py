"""Engine registry: format detection, selection, command lines and container specs (no servers)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from llm_platform.config.schema import ModelConfig
from llm_platform.serving.engines import (
    ENGINE_NAMES,
    ArtifactFormat,
    ContainerSettings,
    EngineFormatMismatch,
    EngineUnavailable,
    LaunchSettings,
    NoEngineForArtifact,
    UnknownEngine,
    choose_engine,
    detect_format,
    get_engine,
    launch_argv,
    local_threads,
)
from llm_platform.serving.engines.vllm import VllmEngine
from tests.helpers.config_fixtures import model_dict
from tests.helpers.gguf_fixtures import write_gguf

DIGEST = "a" * 64
PY = "/venv/bin/python"


def _settings(artifact: Path, **extra: object) -> LaunchSettings:
    base: dict[str, object] = dict(
        model="m1", version="1.0.0", revision="r1", artifact=artifact, digest=DIGEST, port=9100
    )
    return LaunchSettings.model_validate({**base, **extra})


def test_formats_are_detected_from_content(
    builtin_dir: Path, gguf_dir: Path, hf_dir: Path, tmp_path: Path
) -> None:
    assert detect_format(builtin_dir) is ArtifactFormat.BUILTIN_LM
    assert detect_format(gguf_dir) is ArtifactFormat.GGUF
    assert detect_format(gguf_dir / "model-q4.gguf") is ArtifactFormat.GGUF
    assert detect_format(hf_dir) is ArtifactFormat.HF_SAFETENSORS
    # A GGUF under another name is still GGUF; a .gguf name without the magic is not.
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    shutil.copy(gguf_dir / "model-q4.gguf", renamed / "weights.bin")
    assert detect_format(renamed) is ArtifactFormat.GGUF
    (renamed / "weights.bin").write_bytes(b"not gguf")
    with pytest.raises(NoEngineForArtifact, match="no GGUF, Hugging Face safetensors"):
        detect_format(renamed)


def test_unrecognised_and_ambiguous_artifacts_are_refused(
    tmp_path: Path, gguf_dir: Path, hf_dir: Path
) -> None:
    with pytest.raises(NoEngineForArtifact, match="does not exist"):
        detect_format(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NoEngineForArtifact, match="holds no files"):
        detect_format(tmp_path / "empty")
    write_gguf(gguf_dir / "other.gguf")
    with pytest.raises(NoEngineForArtifact, match="several GGUF files"):
        detect_format(gguf_dir)
    (hf_dir / "model.safetensors").unlink()
    with pytest.raises(NoEngineForArtifact, match="no \\*.safetensors weights"):
        detect_format(hf_dir)


def test_split_gguf_is_one_model(tmp_path: Path) -> None:
    for i in (1, 2):
        write_gguf(tmp_path / f"big-0000{i}-of-00002.gguf")
    assert detect_format(tmp_path) is ArtifactFormat.GGUF
    argv = get_engine("llama-cpp").local_argv(_settings(tmp_path), python=PY)
    assert argv[argv.index("--model") + 1] == str(tmp_path / "big-00001-of-00002.gguf")


def test_engine_is_chosen_from_the_format_unless_configured(
    builtin_dir: Path, gguf_dir: Path, hf_dir: Path
) -> None:
    assert choose_engine(gguf_dir).name == "llama-cpp"
    assert choose_engine(hf_dir).name == "vllm"
    assert choose_engine(builtin_dir).name == "builtin"
    assert choose_engine(gguf_dir, "llama-cpp").name == "llama-cpp"
    with pytest.raises(EngineFormatMismatch) as mismatch:
        choose_engine(builtin_dir, "llama-cpp")
    assert mismatch.value.format is ArtifactFormat.BUILTIN_LM
    assert "cannot load a builtin-lm artifact" in str(mismatch.value)
    with pytest.raises(UnknownEngine) as unknown:
        choose_engine(gguf_dir, "tgi")
    assert unknown.value.known == ENGINE_NAMES


def test_every_engine_is_registered_with_a_format() -> None:
    assert set(ENGINE_NAMES) == {"llama-cpp", "vllm", "builtin"}
    claimed = [fmt for name in ENGINE_NAMES for fmt in get_engine(name).formats]
    assert sorted(claimed) == sorted(ArtifactFormat)


def test_model_config_accepts_only_registered_engines() -> None:
    doc = model_dict()
    doc["serving"]["engine"] = "llama-cpp"
    assert ModelConfig.model_validate(doc).serving.engine == "llama-cpp"  # type: ignore[union-attr]
    doc["serving"]["engine"] = "llamacpp"
    with pytest.raises(ValueError, match="use one of: llama-cpp, vllm, builtin"):
        ModelConfig.model_validate(doc)
    del doc["serving"]["engine"]
    plain = ModelConfig.model_validate(doc)
    assert plain.serving is not None and plain.serving.engine is None
    # An unset engine leaves the config hash of existing models unchanged.
    assert "engine" not in json.dumps(plain.model_dump(mode="json", exclude_none=True))


def test_llama_cpp_local_argv_verifies_then_serves(gguf_dir: Path) -> None:
    settings = _settings(gguf_dir, context_size=1024, max_batch_size=4, threads=2)
    argv = get_engine("llama-cpp").local_argv(settings, python=PY)
    assert argv == [
        PY, "-m", "llm_platform.serving.engines.launch",
        "--artifact", str(gguf_dir), "--digest", DIGEST,
        "--module", "llm_platform.serving.engines.llama_server", "--",
        "--model", str(gguf_dir / "model-q4.gguf"), "--model_alias", "m1",
        "--host", "127.0.0.1", "--port", "9100", "--n_ctx", "1024", "--n_threads", "2",
        "--interrupt_requests", "False",
    ]  # fmt: skip


def test_builtin_local_argv_is_the_model_server(builtin_dir: Path) -> None:
    argv = get_engine("builtin").local_argv(_settings(builtin_dir), python=PY)
    assert argv == [
        PY, "-m", "llm_platform.serving.model_server", "--artifact", str(builtin_dir),
        "--expected-digest", DIGEST, "--model", "m1", "--version", "1.0.0", "--revision", "r1",
        "--host", "127.0.0.1", "--port", "9100",
    ]  # fmt: skip


def test_vllm_argv_and_container(hf_dir: Path) -> None:
    engine = VllmEngine(gpu_probe=lambda: True, package_probe=lambda: True)
    engine.check_local()
    settings = _settings(hf_dir, context_size=4096, max_batch_size=16)
    argv = engine.local_argv(settings, python=PY)
    assert argv[argv.index("--module") + 1] == "vllm.entrypoints.openai.api_server"
    assert argv[argv.index("--") + 1 :] == [
        "--model", str(hf_dir), "--served-model-name", "m1", "--max-model-len", "4096",
        "--max-num-seqs", "16", "--host", "127.0.0.1", "--port", "9100",
    ]  # fmt: skip
    spec = engine.container(
        ContainerSettings(
            model="m1", version="1", revision="r1", digest=DIGEST, model_files=("config.json",),
            context_size=4096, max_batch_size=16,
        )
    )  # fmt: skip
    assert spec.image.startswith("vllm/vllm-openai:") and spec.gpu
    assert spec.args == (
        "--model", "/mnt/models", "--served-model-name", "m1", "--max-model-len", "4096",
        "--max-num-seqs", "16", "--port", "8080",
    )  # fmt: skip
    assert (spec.readiness_path, spec.metrics_path) == ("/health", "/metrics")
    assert engine.metric_profile == "vllm"


def test_vllm_is_refused_here_naming_what_is_missing(hf_dir: Path) -> None:
    # This machine has no NVIDIA GPU and no vllm package: the refusal names both.
    with pytest.raises(EngineUnavailable) as refused:
        launch_argv(None, _settings(hf_dir), python=sys.executable)
    assert refused.value.engine == "vllm"
    assert len(refused.value.missing) == 2
    assert "no NVIDIA GPU" in refused.value.missing[0]
    assert "vllm package is not installed" in refused.value.missing[1]
    only_package = VllmEngine(gpu_probe=lambda: True, package_probe=lambda: False)
    assert only_package.missing_locally() == ["the vllm package is not installed"]


def test_llama_cpp_container_splits_context_across_slots() -> None:
    spec = get_engine("llama-cpp").container(
        ContainerSettings(
            model="gemma-3-270m", version="1.0.0", revision="r1", digest=DIGEST,
            model_files=("gemma.gguf",), context_size=1024, max_batch_size=4,
        )
    )  # fmt: skip
    assert spec.image.startswith("ghcr.io/ggml-org/llama.cpp:server@sha256:") and not spec.gpu
    assert spec.args == (
        "--model", "/mnt/models/gemma.gguf", "--alias", "gemma-3-270m", "--host", "0.0.0.0",
        "--port", "8080", "--ctx-size", "4096", "--parallel", "4", "--metrics",
    )  # fmt: skip
    assert (spec.readiness_path, spec.metrics_path) == ("/health", "/metrics")


def test_builtin_container_runs_the_project_image() -> None:
    spec = get_engine("builtin").container(
        ContainerSettings(
            model="m1", version="1.0.0", revision="r1", digest=DIGEST,
            model_files=("config.json", "model.safetensors", "tokenizer.json"),
        )
    )  # fmt: skip
    assert spec.command == ("python", "-m", "llm_platform.serving.model_server")
    assert spec.args[:4] == ("--artifact", "/mnt/models", "--expected-digest", DIGEST)


def test_local_readiness_and_metrics_paths() -> None:
    llama = get_engine("llama-cpp")
    assert (llama.readiness_path, llama.metrics_path) == ("/health", "/metrics")
    assert llama.supports_streaming and llama.supports_chat
    builtin = get_engine("builtin")
    assert (builtin.readiness_path, builtin.metrics_path) == ("/health", "/metrics")
    assert builtin.supports_streaming


def test_local_threads_are_bounded() -> None:
    assert local_threads(1) == 1
    assert local_threads(2) == 1
    assert local_threads(4) == 3
    assert local_threads(64) == 8
    assert 1 <= local_threads() <= 8


def test_native_llama_builds_are_recognised() -> None:
    from llm_platform.serving.engines.llama_build import native_features

    portable = "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | AVX512 = 0 | FMA = 1 | OPENMP = 1 |"
    native = "CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 1 | AVX512_VNNI = 1 | AMX_INT8 = 1 |"
    assert native_features(portable) == []
    assert native_features(native) == ["AMX_INT8", "AVX512", "AVX512_VNNI"]


def test_launch_settings_come_from_the_serving_block(gguf_dir: Path) -> None:
    doc = model_dict()
    doc["serving"] = {"max_batch_size": 4, "max_sequence_length": 1024, "engine": "llama-cpp"}
    config = ModelConfig.model_validate(doc)
    settings = LaunchSettings.for_model(
        config.serving, model=config.name, version=config.version, revision="r1",
        artifact=gguf_dir, digest=DIGEST, port=9100,
    )  # fmt: skip
    assert (settings.context_size, settings.max_batch_size) == (1024, 4)
    assert settings.host == "127.0.0.1"
    argv = launch_argv(config.serving.engine, settings, python=PY, check_local=False)  # type: ignore[union-attr]
    assert argv[argv.index("--n_ctx") + 1] == "1024"
    assert argv[argv.index("--model_alias") + 1] == config.name


def test_chat_format_is_added_only_for_gguf_without_a_template(tmp_path: Path) -> None:
    from llm_platform.serving.engines.llama_server import server_args

    bare = write_gguf(tmp_path / "bare.gguf", metadata={"general.architecture": "gemma3"})
    templated = write_gguf(
        tmp_path / "t.gguf",
        metadata={"general.architecture": "gemma3", "tokenizer.chat_template": "{{ x }}"},
    )
    other = write_gguf(tmp_path / "o.gguf", metadata={"general.architecture": "llama"})
    assert server_args(["--model", str(bare)]) == ["--model", str(bare), "--chat_format", "gemma"]
    assert server_args(["--model", str(templated)]) == ["--model", str(templated)]
    assert server_args(["--model", str(other)]) == ["--model", str(other)]
    explicit = ["--model", str(bare), "--chat_format", "chatml"]
    assert server_args(explicit) == explicit
