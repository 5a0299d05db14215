"""Model registry on a local directory store: content addressing, idempotence, crash safety."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from llm_platform.artifact_store import (
    DigestCache,
    LocalDirStore,
    ModelRegistry,
    RegisterOutcome,
    RegistryError,
    StoreError,
    open_store,
)
from llm_platform.artifact_store.records import record_key
from llm_platform.common.digest import FileEntry, digest_directory
from tests.helpers.registry_fixtures import record_meta

META: dict[str, Any] = record_meta("local:weights")


def make_artifact(root: Path, payload: bytes = b"weights-v1") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "model.safetensors").write_bytes(payload * 1000)
    (root / "sub").mkdir(exist_ok=True)
    (root / "sub" / "config.json").write_text('{"layers": 2}')
    return root


def store_files(store_root: Path) -> dict[str, int]:
    return {
        p.relative_to(store_root).as_posix(): p.stat().st_mtime_ns
        for p in store_root.rglob("*")
        if p.is_file()
    }


def test_register_stores_files_content_addressed_and_verifies(tmp_path: Path) -> None:
    src = make_artifact(tmp_path / "src")
    registry = ModelRegistry(LocalDirStore(tmp_path / "store"))
    outcome = registry.register(src, name="demo", version="1.0.0", **META)

    expected = digest_directory(src)
    record = outcome.record
    assert record.digest == expected.digest
    assert record.total_size == expected.total_size
    assert not outcome.reused and outcome.uploaded_files == 2
    base = tmp_path / "store" / "demo" / "1.0.0" / expected.digest
    assert (base / "files" / "model.safetensors").read_bytes() == (
        src / "model.safetensors"
    ).read_bytes()
    assert (base / "files" / "sub" / "config.json").read_text() == '{"layers": 2}'
    assert json.loads((base / "record.json").read_text())["digest"] == expected.digest
    assert record.artifact_uri == (base / "files").as_uri() + "/"
    assert record.registered_at.endswith("Z")
    assert registry.verify(record)
    assert registry.get_record("demo", "1.0.0") == record
    assert registry.get_record("demo", "1.0.0", expected.digest) == record
    assert registry.get_record("demo", "2.0.0") is None


def test_reregistering_same_digest_writes_nothing(tmp_path: Path) -> None:
    src = make_artifact(tmp_path / "src")
    store_root = tmp_path / "store"
    registry = ModelRegistry(LocalDirStore(store_root))
    first = registry.register(src, name="demo", version="1.0.0", **META)
    before = store_files(store_root)

    again = registry.register(
        src, name="demo", version="1.0.0", **{**META, "commit_sha": "beef", "kfp_run_id": "run-2"}
    )
    assert again.reused and again.uploaded_files == 0 and again.uploaded_bytes == 0
    assert again.record == first.record  # lineage of the first registration is kept
    assert store_files(store_root) == before  # no file rewritten (mtimes identical)


def test_crash_mid_store_leaves_no_record_and_next_registration_completes(tmp_path: Path) -> None:
    src = make_artifact(tmp_path / "src")

    class CrashAfterFirstFile(LocalDirStore):
        calls = 0

        def put_file(self, key: str, src: Path, *, expected: FileEntry | None = None) -> FileEntry:
            if self.calls >= 1:
                raise OSError("simulated crash")
            self.calls += 1
            return super().put_file(key, src, expected=expected)

    crashing = ModelRegistry(CrashAfterFirstFile(tmp_path / "store"))
    with pytest.raises(OSError, match="simulated crash"):
        crashing.register(src, name="demo", version="1.0.0", **META)
    digest = digest_directory(src).digest
    assert not (tmp_path / "store" / record_key("demo", "1.0.0", digest)).exists()
    assert crashing.get_record("demo", "1.0.0") is None
    assert crashing.list_records("demo") == []

    registry = ModelRegistry(LocalDirStore(tmp_path / "store"))
    outcome = registry.register(src, name="demo", version="1.0.0", **META)
    assert not outcome.reused and outcome.uploaded_files == 2
    assert registry.verify(outcome.record)


def test_two_versions_and_two_models_never_overwrite(tmp_path: Path) -> None:
    registry = ModelRegistry(LocalDirStore(tmp_path / "store"))

    def reg(directory: str, payload: bytes, name: str, version: str) -> RegisterOutcome:
        src = make_artifact(tmp_path / directory, payload)
        return registry.register(src, name=name, version=version, **META)

    a1 = reg("a1", b"one", "a", "1.0.0")
    a2 = reg("a2", b"two", "a", "2.0.0")
    b1 = reg("b1", b"one", "b", "1.0.0")
    assert a1.record.digest == b1.record.digest != a2.record.digest
    assert registry.get_record("a", "1.0.0") == a1.record
    assert registry.get_record("a", "2.0.0") == a2.record
    assert registry.get_record("b", "1.0.0") == b1.record
    assert [r.version for r in registry.list_records("a")] == ["1.0.0", "2.0.0"]
    assert all(registry.verify(r.record) for r in (a1, a2, b1))
    # Same version, new content: both digests stay; latest points at the newest.
    a1b = reg("a1b", b"uno", "a", "1.0.0")
    assert registry.get_record("a", "1.0.0") == a1b.record
    assert registry.get_record("a", "1.0.0", a1.record.digest) == a1.record
    assert registry.verify(a1.record)


def test_verify_detects_tampering_and_missing_files(tmp_path: Path) -> None:
    registry = ModelRegistry(LocalDirStore(tmp_path / "store"))
    record = registry.register(make_artifact(tmp_path / "src"), name="m", version="1.0.0", **META)
    stored = Path(record.record.artifact_uri.removeprefix("file://")) / "model.safetensors"
    stored.write_bytes(b"evil")
    problems = registry.verify_problems(record.record)
    assert len(problems) == 1 and "model.safetensors" in problems[0]
    assert not registry.verify(record.record)
    stored.unlink()
    assert "missing" in registry.verify_problems(record.record)[0]


def test_fetch_copies_and_verifies(tmp_path: Path) -> None:
    src = make_artifact(tmp_path / "src")
    registry = ModelRegistry(LocalDirStore(tmp_path / "store"))
    record = registry.register(src, name="m", version="1.0.0", **META).record
    dest = registry.fetch(record, tmp_path / "serve")
    assert digest_directory(dest).digest == record.digest
    stored = Path(record.artifact_uri.removeprefix("file://")) / "sub" / "config.json"
    stored.write_text("tampered")
    with pytest.raises(StoreError, match="do not match"):
        registry.fetch(record, tmp_path / "serve2")
    assert not (tmp_path / "serve2" / "sub" / "config.json").exists()


def test_source_changed_during_store_is_refused(tmp_path: Path) -> None:
    src = make_artifact(tmp_path / "src")
    manifest = digest_directory(src)
    (src / "model.safetensors").write_bytes(b"changed after hashing")
    registry = ModelRegistry(LocalDirStore(tmp_path / "store"))
    with pytest.raises(StoreError, match="content changed"):
        registry.register(src, name="m", version="1.0.0", manifest=manifest, **META)
    assert registry.get_record("m", "1.0.0") is None
    leftovers = [p for p in (tmp_path / "store").rglob("*.tmp")]
    assert leftovers == []


def test_unsafe_scan_is_refused_and_bad_names_rejected(tmp_path: Path) -> None:
    registry = ModelRegistry(LocalDirStore(tmp_path / "store"))
    src = make_artifact(tmp_path / "src")
    with pytest.raises(RegistryError, match="unsafe"):
        registry.register(src, name="m", version="1.0.0", **{**META, "scan_safe": False})
    with pytest.raises(StoreError, match="invalid model name"):
        registry.register(src, name="../etc", version="1.0.0", **META)
    with pytest.raises(StoreError, match="invalid store key"):
        LocalDirStore(tmp_path / "s").put_bytes("a/../../x", b"")
    assert list((tmp_path / "store").rglob("record.json")) == []


def test_corrupt_record_is_an_error_not_a_miss(tmp_path: Path) -> None:
    registry = ModelRegistry(LocalDirStore(tmp_path / "store"))
    record = registry.register(make_artifact(tmp_path / "src"), name="m", version="1.0.0", **META)
    key = record_key("m", "1.0.0", record.record.digest)
    (tmp_path / "store" / key).write_text("{not json")
    with pytest.raises(RegistryError, match="invalid registry record"):
        registry.get_record("m", "1.0.0")


def test_digest_cache_skips_unchanged_and_rehashes_changed_files(tmp_path: Path) -> None:
    src = make_artifact(tmp_path / "src")
    cache_path = tmp_path / "cache.json"
    first = DigestCache(cache_path)
    m1 = first.digest_directory(src)
    first.save()
    assert (first.hits, first.misses) == (0, 2)

    second = DigestCache(cache_path)
    assert second.digest_directory(src) == m1
    assert (second.hits, second.misses) == (2, 0)

    target = src / "model.safetensors"
    st = target.stat()
    target.write_bytes(b"X" * st.st_size)  # same size, new content
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000))
    third = DigestCache(cache_path)
    m3 = third.digest_directory(src)
    assert m3.digest != m1.digest and third.misses == 1
    assert m3 == digest_directory(src)


def test_registry_with_cache_rehashes_a_changed_artifact(tmp_path: Path) -> None:
    src = make_artifact(tmp_path / "src")
    registry = ModelRegistry(LocalDirStore(tmp_path / "store"))
    cache = DigestCache(tmp_path / "cache.json")
    first = registry.register(src, name="m", version="1.0.0", cache=cache, **META)
    assert registry.register(src, name="m", version="1.0.0", cache=cache, **META).reused
    (src / "sub" / "config.json").write_text('{"layers": 3}')
    changed = registry.register(src, name="m", version="1.0.0", cache=cache, **META)
    assert not changed.reused and changed.record.digest != first.record.digest


def test_open_store_uris(tmp_path: Path) -> None:
    assert isinstance(open_store(str(tmp_path / "d")), LocalDirStore)
    assert open_store((tmp_path / "e").as_uri()).uri == (tmp_path / "e").as_uri()
    with pytest.raises(StoreError, match="unsupported"):
        open_store("gs://bucket/x")
    with pytest.raises(StoreError, match="empty"):
        open_store("")
