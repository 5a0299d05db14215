"""Model registry on S3 against a real (moto) S3 server on 127.0.0.1, client from dagster-aws."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster_aws.s3 import S3Resource

from llm_platform.artifact_store import ModelRegistry, S3Store, open_store
from llm_platform.common.digest import FileEntry, digest_directory
from llm_platform.registration.sources import SourceError, materialize_source
from resources.artifact_store import S3ArtifactStore
from tests.helpers.registry_fixtures import moto_server, record_meta
from tests.helpers.registry_fixtures import s3_resource as make_s3_resource

BUCKET = "llm-artifacts"
META: dict[str, Any] = record_meta("s3://src/x")


@pytest.fixture()
def s3_resource() -> Iterator[S3Resource]:
    with moto_server() as endpoint:
        resource = make_s3_resource(endpoint)
        resource.get_client().create_bucket(Bucket=BUCKET)
        yield resource


class WriteCounter:
    """Counts write requests (PUT/POST: put_object, upload_part, multipart) sent by a client."""

    def __init__(self, client: Any) -> None:
        self.writes: list[str] = []
        client.meta.events.register("before-send.s3", self._seen)

    def _seen(self, request: Any, **_: Any) -> None:
        if request.method in ("PUT", "POST"):
            self.writes.append(f"{request.method} {request.url}")


def make_artifact(root: Path, payload: bytes) -> Path:
    root.mkdir(parents=True)
    (root / "model.safetensors").write_bytes(payload)
    (root / "tok").mkdir()
    (root / "tok" / "tokenizer.json").write_text('{"v": 1}')
    return root


def test_s3_register_verify_fetch_idempotent(s3_resource: S3Resource, tmp_path: Path) -> None:
    resource = S3ArtifactStore(s3=s3_resource, bucket=BUCKET, prefix="artifacts")
    assert resource.uri == f"s3://{BUCKET}/artifacts"
    store = resource.store()
    counter = WriteCounter(store.client)  # type: ignore[attr-defined]
    registry = ModelRegistry(store)
    # > 8 MiB so the upload goes multipart and is still hashed in order.
    src = make_artifact(tmp_path / "src", bytes(range(256)) * (40 * 1024 + 7))

    first = registry.register(src, name="demo", version="1.0.0", **META)
    assert first.record.digest == digest_directory(src).digest
    assert first.record.artifact_uri == (
        f"s3://{BUCKET}/artifacts/demo/1.0.0/{first.record.digest}/files/"
    )
    assert len(counter.writes) >= 4  # two files (one multipart), record, latest pointer
    assert registry.verify(first.record)
    keys = store.list_keys("demo/")
    assert f"demo/1.0.0/{first.record.digest}/record.json" in keys

    counter.writes.clear()
    again = registry.register(src, name="demo", version="1.0.0", **META)
    assert again.reused and counter.writes == []

    dest = registry.fetch(first.record, tmp_path / "fetched")
    assert (dest / "model.safetensors").read_bytes() == (src / "model.safetensors").read_bytes()
    assert digest_directory(dest).digest == first.record.digest

    store.client.put_object(  # type: ignore[attr-defined]
        Bucket=BUCKET,
        Key=f"artifacts/demo/1.0.0/{first.record.digest}/files/tok/tokenizer.json",
        Body=b"tampered",
    )
    assert not registry.verify(first.record)


def test_s3_crash_leaves_no_record_then_completes(s3_resource: S3Resource, tmp_path: Path) -> None:
    client = s3_resource.get_client()
    src = make_artifact(tmp_path / "src", b"abc" * 1000)

    class CrashAfterFirstFile(S3Store):
        calls = 0

        def put_file(self, key: str, src: Path, *, expected: FileEntry | None = None) -> FileEntry:
            if self.calls >= 1:
                raise ConnectionError("simulated crash")
            self.calls += 1
            return super().put_file(key, src, expected=expected)

    with pytest.raises(ConnectionError):
        ModelRegistry(CrashAfterFirstFile(client, BUCKET, "p")).register(
            src, name="m", version="1.0.0", **META
        )
    registry = ModelRegistry(S3Store(client, BUCKET, "p"))
    assert not [k for k in registry.store.list_keys("m/") if k.endswith("record.json")]
    assert registry.get_record("m", "1.0.0") is None
    outcome = registry.register(src, name="m", version="1.0.0", **META)
    assert not outcome.reused and registry.verify(outcome.record)


def test_s3_versions_do_not_overwrite(s3_resource: S3Resource, tmp_path: Path) -> None:
    registry = ModelRegistry(S3Store(s3_resource.get_client(), BUCKET, ""))
    one = registry.register(make_artifact(tmp_path / "1", b"1"), name="m", version="1.0.0", **META)
    two = registry.register(make_artifact(tmp_path / "2", b"2"), name="m", version="1.1.0", **META)
    assert registry.get_record("m", "1.0.0") == one.record
    assert registry.get_record("m", "1.1.0") == two.record
    assert [r.version for r in registry.list_records("m")] == ["1.0.0", "1.1.0"]
    assert registry.verify(one.record) and registry.verify(two.record)


def test_s3_source_resolution(
    s3_resource: S3Resource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = s3_resource.get_client()
    client.put_object(Bucket=BUCKET, Key="models/tiny/model.safetensors", Body=b"w" * 100)
    client.put_object(Bucket=BUCKET, Key="models/tiny/cfg/config.json", Body=b"{}")
    client.put_object(Bucket=BUCKET, Key="models/tiny-other/x.bin", Body=b"no")

    dest = materialize_source("s3", f"s3://{BUCKET}/models/tiny", tmp_path / "a", s3_client=client)
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == [
        "cfg/config.json",
        "model.safetensors",
    ]
    one = materialize_source(
        "s3", f"s3://{BUCKET}/models/tiny/cfg/config.json", tmp_path / "b", s3_client=client
    )
    assert (one / "config.json").read_bytes() == b"{}"
    with pytest.raises(SourceError, match="no object or prefix"):
        materialize_source("s3", f"s3://{BUCKET}/nothing", tmp_path / "c", s3_client=client)

    # Without an explicit client, boto3 honours AWS_ENDPOINT_URL and the AWS_* credentials.
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_resource.endpoint_url or "")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    store = open_store(f"s3://{BUCKET}/env-prefix")
    store.put_bytes("k/v.json", b"1")
    assert client.get_object(Bucket=BUCKET, Key="env-prefix/k/v.json")["Body"].read() == b"1"
