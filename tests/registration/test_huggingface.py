"""The ``huggingface`` source against a local fake of the Hub (``HF_ENDPOINT``), never the internet.

The fake (:mod:`tests.helpers.hf_hub_fixtures`) is a real HTTP server on 127.0.0.1 serving the
routes ``huggingface_hub`` 2.x ``snapshot_download`` calls; each test asserts it saw the requests.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_platform.artifact_store import LocalDirStore, ModelRegistry
from llm_platform.artifact_store.artifact_io import ArtifactTooLargeError
from llm_platform.common.digest import digest_directory
from llm_platform.registration import LocalKfpRegistrar, SourceError
from llm_platform.registration.huggingface import (
    HF_EXTRA_INSTALL,
    parse_hf_uri,
)
from llm_platform.registration.sources import materialize_source
from llm_platform.security import scan_path
from tests.helpers.hf_hub_fixtures import GATED_TOKEN, FakeHub, FakeRepo, fake_hub
from tests.helpers.registry_fixtures import MALICIOUS_PICKLE, model_config, store_mtimes


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """The fake Hub, with the environment (inherited by kfp.local's steps) pointing at it."""
    with fake_hub() as running:
        monkeypatch.setenv("HF_ENDPOINT", running.endpoint)
        monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no token file, no cache
        for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE"):
            monkeypatch.delenv(name, raising=False)
        yield running
        assert not any("xet" in p.lower() for p in running.paths()), "the fake has no Xet"


def listing(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_downloads_exactly_the_repo_files(hub: FakeHub, tmp_path: Path) -> None:
    dest = materialize_source("huggingface", "org/tiny", tmp_path / "out" / "d")
    assert listing(dest) == hub.files("org/tiny")
    # The library's bookkeeping stayed in scratch space, which is gone.
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["d"]
    commit = hub.repos["org/tiny"].refs["main"]
    assert hub.paths("GET")[:2] == [
        "/api/models/org/tiny/revision/main",
        f"/api/models/org/tiny/tree/{commit}",
    ]
    for name in ("config.json", "model.safetensors"):
        assert f"/org/tiny/resolve/{commit}/{name}" in hub.paths("HEAD")
        assert f"/org/tiny/resolve/{commit}/{name}" in hub.paths("GET")


def test_revision_by_tag_and_by_commit(hub: FakeHub, tmp_path: Path) -> None:
    old = hub.repos["org/tiny"].refs["v1"]
    by_tag = materialize_source("huggingface", "org/tiny@v1", tmp_path / "tag")
    assert listing(by_tag) == hub.files("org/tiny", "v1") != hub.files("org/tiny")
    assert "/api/models/org/tiny/revision/v1" in hub.paths()

    hub.requests.clear()
    by_commit = materialize_source("huggingface", f"org/tiny@{old}", tmp_path / "sha")
    assert listing(by_commit) == hub.files("org/tiny", "v1")
    # A commit sha pins the bytes: no revision look-up, straight to that commit's tree.
    assert not any("/revision/" in p for p in hub.paths())
    assert hub.paths("GET")[0] == f"/api/models/org/tiny/tree/{old}"


@pytest.mark.parametrize(
    ("uri", "status", "what"),
    [
        ("org/missing", 404, "repository not found"),
        ("org/gated", 401, "gated repository"),
        ("org/tiny@no-such-branch", 404, "revision not found"),
    ],
)
def test_hub_errors_name_the_repo_and_status(
    hub: FakeHub, tmp_path: Path, uri: str, status: int, what: str
) -> None:
    with pytest.raises(SourceError) as info:
        materialize_source("huggingface", uri, tmp_path / "out" / "d")
    message = str(info.value)
    assert message.startswith(f"huggingface source {uri}: {what}")
    assert f"HTTP {status} from {hub.endpoint}" in message
    # The library's exception is not chained: no stack trace of huggingface_hub.
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert listing(tmp_path / "out") == {}
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["d"]
    assert hub.paths(), "the fake hub saw no request"


def test_gated_repo_downloads_with_hf_token_from_the_environment(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_wrong_token_for_this_repo")
    with pytest.raises(SourceError, match="HTTP 401") as info:
        materialize_source("huggingface", "org/gated", tmp_path / "a")
    assert "hf_wrong_token" not in str(info.value)

    monkeypatch.setenv("HF_TOKEN", GATED_TOKEN)
    dest = materialize_source("huggingface", "org/gated", tmp_path / "b")
    assert listing(dest) == hub.files("org/gated")
    resolved = [(m, p, auth) for m, p, auth in hub.requests if "/resolve/" in p]
    assert resolved and all(auth for _, _, auth in resolved[-4:])


def test_connection_dropped_mid_download_is_a_source_error(hub: FakeHub, tmp_path: Path) -> None:
    with pytest.raises(SourceError) as info:
        materialize_source("huggingface", "org/broken", tmp_path / "out" / "d")
    assert "huggingface source org/broken: the connection failed" in str(info.value)
    assert "Server disconnected" in str(info.value)
    assert listing(tmp_path / "out") == {}
    assert any("/org/broken/resolve/" in p for p in hub.paths("GET"))


def test_a_pickle_comes_down_so_the_scanner_refuses_it(hub: FakeHub, tmp_path: Path) -> None:
    files = {"config.json": b"{}", "pytorch_model.bin": MALICIOUS_PICKLE}
    hub.repos["org/pickled"] = FakeRepo({"c" * 40: files}, {"main": "c" * 40})
    dest = materialize_source("huggingface", "org/pickled", tmp_path / "d")
    assert listing(dest) == files  # unfiltered: the whole snapshot
    report = scan_path(dest)
    assert not report.safe
    assert [f.path for f in report.bad_files()] == ["pytorch_model.bin"]


def test_size_limit_applies_to_huggingface_sources(hub: FakeHub, tmp_path: Path) -> None:
    with pytest.raises(ArtifactTooLargeError):
        materialize_source("huggingface", "org/tiny", tmp_path / "d", max_bytes=64)


def test_offline_env_fails_fast_without_a_request(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"not reachable \(offline\): HF_HUB_OFFLINE is set"):
        materialize_source("huggingface", "org/tiny", tmp_path / "d")
    assert time.monotonic() - started < 5
    assert hub.requests == []


def test_missing_package_names_the_extra(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import raises ImportError
    with pytest.raises(SourceError) as info:
        materialize_source("huggingface", "org/tiny", tmp_path / "d")
    assert HF_EXTRA_INSTALL in str(info.value)
    assert "pip install 'llm-platform[huggingface]'" in str(info.value)
    assert hub.requests == []


def test_a_stalled_hub_times_out(
    hub: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llm_platform.registration import huggingface

    # The library itself sets no timeout on the repo info request: only ours bounds it.
    monkeypatch.setattr(huggingface, "HF_REQUEST_TIMEOUT_S", 0.5)
    hub.repos["org/tiny"].stall_s = 4.0
    started = time.monotonic()
    with pytest.raises(SourceError) as info:
        materialize_source("huggingface", "org/tiny", tmp_path / "d")
    assert "huggingface source org/tiny: no answer within 0.5s" in str(info.value)
    assert time.monotonic() - started < 3.5
    assert hub.paths("GET") == ["/api/models/org/tiny/revision/main"]


def test_parse_hf_uri() -> None:
    assert parse_hf_uri("org/name") == ("org/name", None)
    assert parse_hf_uri("org/name@refs/pr/1") == ("org/name", "refs/pr/1")
    assert parse_hf_uri("org/name@" + "a" * 40) == ("org/name", "a" * 40)
    for bad in ("org/name@", "@main", "/"):
        with pytest.raises(SourceError, match="org/name\\[@revision\\]"):
            parse_hf_uri(bad)


@pytest.mark.integration
def test_kfp_local_registers_a_huggingface_model_then_reuses_it(
    hub: FakeHub, tmp_path: Path
) -> None:
    registrar = LocalKfpRegistrar(tmp_path / "kfp", str(tmp_path / "store"))
    config = model_config("tiny-hf", "1.0.0", "huggingface", "org/tiny")
    result = registrar.register(
        config=config, models_repo_dir=tmp_path, commit_sha="e" * 40, run_id="hf-1"
    )
    record = result.record
    independent = hub.write("org/tiny", tmp_path / "independent")
    assert record.digest == digest_directory(independent).digest
    assert record.source_uri == "org/tiny"
    assert record.scan_safe and not result.reused
    registry = ModelRegistry(LocalDirStore(tmp_path / "store"))
    assert listing(registry.fetch(record, tmp_path / "serve")) == hub.files("org/tiny")
    assert hub.paths("GET").count("/api/models/org/tiny/revision/main") == 1

    before = store_mtimes(tmp_path / "store")
    again = registrar.register(
        config=config, models_repo_dir=tmp_path, commit_sha="f" * 40, run_id="hf-2"
    )
    assert again.reused and again.record == record
    assert store_mtimes(tmp_path / "store") == before  # nothing re-uploaded
    # The second run asked the hub again (and found the same bytes).
    assert hub.paths("GET").count("/api/models/org/tiny/revision/main") == 2
