"""Registration through the real KFP v2 pipeline run by kfp.local (SubprocessRunner)."""

from __future__ import annotations

import json
import time
from functools import partial
from pathlib import Path

import pytest

from llm_platform.artifact_store import LocalDirStore, ModelRegistry
from llm_platform.common.digest import digest_directory
from llm_platform.registration import (
    ArtifactUnsafeError,
    LocalKfpRegistrar,
    RegistrationError,
    SourceError,
    SourceNotAllowedError,
)
from llm_platform.registration.sources import materialize_source
from resources.artifact_store import LocalArtifactStore
from resources.registrar import LocalKfpRegistrarResource
from tests.helpers.loopback_http import closed_port_url
from tests.helpers.paths import DEMO_WEIGHTS, REPO_ROOT
from tests.helpers.registry_fixtures import MALICIOUS_PICKLE, model_config, store_mtimes

MODELS_REPO = REPO_ROOT / "examples" / "models-repo"
DEMO_MODEL = DEMO_WEIGHTS / "tiny-shakespeare"


# A pickle that would run os.system on load (GLOBAL posix.system + REDUCE); built as bytes,
# never unpickled.
def test_kfp_local_registers_demo_model_then_reuses_it(tmp_path: Path) -> None:
    assert DEMO_MODEL.is_dir(), "demo weights missing from examples/models-repo"
    store = LocalArtifactStore(root=str(tmp_path / "store"))
    registrar = LocalKfpRegistrarResource(pipeline_root=str(tmp_path / "kfp"))
    config = model_config("tiny-shakespeare", "1.0.0", "local", "weights/tiny-shakespeare")

    register = partial(
        registrar.register, artifact_store=store, config=config, models_repo_dir=MODELS_REPO
    )
    result = register(commit_sha="a" * 40, run_id="dagster-run-1")
    record = result.record
    assert record.digest == digest_directory(DEMO_MODEL).digest
    assert record.commit_sha == "a" * 40
    assert record.config_hash == config.config_hash()
    assert record.kfp_run_id == result.kfp_run_id and result.kfp_run_id
    assert record.scan_safe and record.scan_summary["unsafe"] == 0
    assert record.source_uri == str(DEMO_MODEL)
    assert json.loads(result.scan_report_json)["safe"] is True
    assert not result.reused and result.duration_s > 0

    registry = ModelRegistry(LocalDirStore(tmp_path / "store"))
    assert registry.get_record("tiny-shakespeare", "1.0.0") == record
    assert registry.verify(record)
    fetched = registry.fetch(record, tmp_path / "serve")
    for src in DEMO_MODEL.iterdir():
        assert (fetched / src.name).read_bytes() == src.read_bytes()
    assert registry.get_attachment(record, "scan-report.sarif") is not None

    before = store_mtimes(tmp_path / "store")
    again = register(commit_sha="b" * 40, run_id="dagster-run-2")
    assert again.reused and again.record == record
    assert again.kfp_run_id != result.kfp_run_id
    assert store_mtimes(tmp_path / "store") == before
    # Finished runs leave no copy of the artifact under the pipeline root.
    assert list((tmp_path / "kfp" / "runs").iterdir()) == []
    assert not list((tmp_path / "kfp").rglob("*.safetensors"))


def test_unsafe_artifact_fails_at_scan_step_and_writes_no_record(tmp_path: Path) -> None:
    weights = tmp_path / "repo" / "weights" / "evil"
    weights.mkdir(parents=True)
    (weights / "pytorch_model.bin").write_bytes(MALICIOUS_PICKLE)
    (weights / "config.json").write_text("{}")
    registrar = LocalKfpRegistrar(tmp_path / "kfp", str(tmp_path / "store"))
    with pytest.raises(ArtifactUnsafeError) as info:
        registrar.register(
            config=model_config("evil", "1.0.0", "local", "weights/evil"),
            models_repo_dir=tmp_path / "repo",
            commit_sha="c" * 40,
            run_id="r1",
        )
    # The verdict is the pipeline's scan report, carried as data.
    report = info.value.report
    assert report.safe is False and report.summary["unsafe"] == 1
    assert [(f.path, f.status) for f in report.bad_files()] == [("pytorch_model.bin", "unsafe")]
    assert "pytorch_model.bin" in str(info.value)
    assert list((tmp_path / "store").rglob("record.json")) == []
    assert not list((tmp_path / "store").rglob("pytorch_model.bin"))
    # Only the rejected scan report is kept; the failed run leaves nothing in the pipeline root.
    assert len(list((tmp_path / "store").rglob("rejected/*/scan-report.json"))) == 1
    assert list((tmp_path / "kfp" / "runs").iterdir()) == []


def test_offline_huggingface_fails_fast_with_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", closed_port_url())
    started = time.monotonic()
    with pytest.raises(
        SourceError, match=r"huggingface source org/tiny is not reachable \(offline\)"
    ):
        materialize_source("huggingface", "org/tiny", tmp_path / "d")
    assert time.monotonic() - started < 5

    registrar = LocalKfpRegistrar(tmp_path / "kfp", str(tmp_path / "store"))
    with pytest.raises(RegistrationError) as info:
        registrar.register(
            config=model_config("hf-model", "1.0.0", "huggingface", "org/tiny"),
            models_repo_dir=tmp_path,
            commit_sha="d" * 40,
            run_id="r2",
        )
    assert "fetch-and-hash" in str(info.value)
    assert "huggingface source org/tiny is not reachable (offline)" in str(info.value)
    assert time.monotonic() - started < 30


def test_local_source_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        materialize_source("local", "weights/missing", tmp_path / "d", models_repo_dir=tmp_path)
    with pytest.raises(SourceError, match="unknown source type"):
        materialize_source("ftp", "x", tmp_path / "e")
    single = tmp_path / "one.safetensors"
    single.write_bytes(b"x")
    with pytest.raises(SourceNotAllowedError, match="LLM_PLATFORM_ALLOWED_SOURCE_PATHS"):
        materialize_source("local", str(single), tmp_path / "f")
    out = materialize_source("local", str(single), tmp_path / "f", allowed_roots=[tmp_path])
    assert (out / "one.safetensors").read_bytes() == b"x"


def test_pipeline_steps_install_nothing_at_run_time(tmp_path: Path) -> None:
    """Every step runs on an image (or virtualenv) that already holds kfp and llm_platform:
    no executor command calls pip, which would need the network on an offline cluster."""
    import yaml
    from kfp import compiler

    from llm_platform.registration.pipeline import build_pipeline

    package = tmp_path / "pipeline.yaml"
    compiler.Compiler().compile(build_pipeline(), str(package))
    executors = yaml.safe_load(package.read_text())["deploymentSpec"]["executors"]
    assert len(executors) == 3
    for name, executor in executors.items():
        command = " ".join(executor["container"]["command"])
        assert "pip" not in command, f"{name} installs packages at run time: {command[:200]}"
