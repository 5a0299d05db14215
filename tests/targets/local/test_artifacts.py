"""The local runtime resolves a revision's artifact (store URI + digest) into a verified cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_platform.artifact_store import LocalDirStore, ModelRegistry
from llm_platform.common.digest import digest_directory
from llm_platform.targets.artifacts import ArtifactCache, ArtifactUnavailable
from llm_platform.targets.local.local import LocalRuntime
from tests.helpers.runtime_fixtures import WRONG_DIGEST, revision, spec


def _artifact(root: Path) -> tuple[Path, str]:
    (root / "sub").mkdir(parents=True)
    (root / "config.json").write_text('{"a": 1}')
    (root / "sub" / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    return root, digest_directory(root).digest


def test_resolves_a_file_uri_into_the_cache_and_verifies_it(tmp_path: Path) -> None:
    src, digest = _artifact(tmp_path / "src")
    cache = ArtifactCache(tmp_path / "cache")
    out = cache.resolve("m", src.as_uri(), digest)
    assert out == tmp_path / "cache" / "m" / digest
    assert digest_directory(out).digest == digest
    assert (out / "sub" / "weights.bin").read_bytes() == b"\x00\x01" * 1000


def test_resolves_the_registry_records_artifact_uri(tmp_path: Path) -> None:
    """The URI a registry record carries (its files/ prefix) is what a revision names."""
    src, digest = _artifact(tmp_path / "src")
    registry = ModelRegistry(LocalDirStore(tmp_path / "store"))
    record = registry.register(
        src,
        name="m",
        version="1.0.0",
        source_uri="file:///src",
        commit_sha="c" * 40,
        config_hash="h" * 64,
        kfp_run_id="run",
        kfp_run_url=None,
        scan_summary={},
        scan_safe=True,
    ).record
    out = ArtifactCache(tmp_path / "cache").resolve("m", record.artifact_uri, record.digest)
    assert digest_directory(out).digest == digest == record.digest


def test_wrong_digest_is_refused_and_nothing_is_cached(tmp_path: Path) -> None:
    src, _ = _artifact(tmp_path / "src")
    cache = ArtifactCache(tmp_path / "cache")
    with pytest.raises(ArtifactUnavailable, match=WRONG_DIGEST):
        cache.resolve("m", src.as_uri(), WRONG_DIGEST)
    assert list((tmp_path / "cache" / "m").iterdir()) == []


def test_tampered_cache_copy_is_fetched_again(tmp_path: Path) -> None:
    src, digest = _artifact(tmp_path / "src")
    cache = ArtifactCache(tmp_path / "cache")
    out = cache.resolve("m", src.as_uri(), digest)
    (out / "config.json").write_text('{"a": 2}')
    again = cache.resolve("m", src.as_uri(), digest)
    assert (again / "config.json").read_text() == '{"a": 1}'


def test_missing_or_empty_uri_is_a_clear_error(tmp_path: Path) -> None:
    cache = ArtifactCache(tmp_path / "cache")
    with pytest.raises(ArtifactUnavailable, match="no artifact files"):
        cache.resolve("m", (tmp_path / "nothing").as_uri(), WRONG_DIGEST)
    with pytest.raises(ArtifactUnavailable, match="cannot fetch"):
        cache.resolve("m", "ftp://host/x", WRONG_DIGEST)


def test_apply_refuses_an_unverifiable_revision_before_it_is_desired(tmp_path: Path) -> None:
    src, _ = _artifact(tmp_path / "src")
    runtime = LocalRuntime(tmp_path / "home")
    with pytest.raises(ArtifactUnavailable):
        runtime.apply(spec("m", revision("r1", WRONG_DIGEST, src, weight=100)))
    assert runtime.desired_spec("staging", "m") is None
