"""The KServe storage initializer the platform ships: ``python -m ... URI DEST`` (KServe's calling
convention) against real stores (a local directory and moto's S3 server), and the
ClusterStorageContainer that makes KServe run it for the platform's artifact URIs only."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from llm_platform.artifact_store import ModelRegistry, RegistryRecord, S3Store
from llm_platform.common.digest import digest_directory
from llm_platform.targets.base import DeploymentSpec, InvalidDeploymentSpec
from llm_platform.targets.kubernetes.image import PLATFORM_IMAGE_ENV
from llm_platform.targets.kubernetes.kserve import artifact_stores, storage_container
from llm_platform.targets.kubernetes.render import render
from llm_platform.targets.kubernetes.storage_initializer import (
    INIT_CONTAINER,
    MODULE,
    STAGING_DIR,
    STORAGE_CONTAINER,
    main,
    parse_artifact_uri,
    uri_pattern,
)
from tests.helpers.gguf_fixtures import write_gguf
from tests.helpers.k8s_fixtures import DIGEST_A, MODEL, STORE, placement, register_gguf, revision
from tests.helpers.k8s_schemas import validate_manifest
from tests.helpers.registry_fixtures import moto_server, record_meta

BUCKET = "llm-artifacts"


def initialize(
    uri: str, dest: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the initializer as KServe's init container does: ``<storageUri> <mount path>``."""
    return subprocess.run(
        [sys.executable, "-m", MODULE, uri, str(dest)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def stored_file(store: Path, record: RegistryRecord, path: str) -> Path:
    return store / record.name / record.version / record.digest / "files" / path


def test_a_verified_artifact_lands_at_dest_itself(tmp_path: Path) -> None:
    record = register_gguf(tmp_path / "store", tmp_path)
    dest = tmp_path / "mnt" / "models"
    done = initialize(record.artifact_uri, dest)
    assert done.returncode == 0, done.stderr
    assert f"verified as {record.digest}" in done.stderr
    # /mnt/models/model.gguf: where the predictor's args point (no model/digest subdirectory)
    assert sorted(p.name for p in dest.iterdir()) == ["model.gguf"]
    assert digest_directory(dest).digest == record.digest
    # the init container runs again in the same pod (restart): the files are kept as they are
    before = (dest / "model.gguf").stat().st_ino
    assert main([record.artifact_uri, str(dest)]) == 0
    assert (dest / "model.gguf").stat().st_ino == before


def test_a_tampered_object_exits_1_and_leaves_dest_empty(tmp_path: Path) -> None:
    store = tmp_path / "store"
    record = register_gguf(store, tmp_path)
    with open(stored_file(store, record, "model.gguf"), "ab") as f:
        f.write(b"\0")
    dest = tmp_path / "models"
    done = initialize(record.artifact_uri, dest)
    assert done.returncode == 1
    assert record.artifact_uri in done.stderr
    assert record.digest in done.stderr
    got = re.search(r"files hash to ([0-9a-f]{64})", done.stderr)
    assert got and got[1] != record.digest  # names both digests
    assert list(dest.iterdir()) == []  # nothing partial, no staging left


def test_uris_outside_the_registry_layout_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    record = register_gguf(store, tmp_path)
    files_dir = stored_file(store, record, "")
    # the same files, but at a URI that names no digest: nothing to verify them against
    for uri in (
        files_dir.parent.parent.as_uri() + "/",
        (tmp_path / "gguf-0").as_uri(),
        f"{files_dir.as_uri()}/model.gguf",
        record.artifact_uri.replace("file://", "gs://"),  # no such store, but the layout holds
    ):
        dest = tmp_path / "dest"
        assert main([uri, str(dest)]) == 1, uri
        assert not dest.exists() or list(dest.iterdir()) == []
    err = capsys.readouterr().err
    assert f"{(tmp_path / 'gguf-0').as_uri()}: not an artifact URI of the registry" in err
    assert "gs://" in err and "cannot fetch the artifact" in err
    # the layout, but a digest nothing was registered under
    missing = record.artifact_uri.replace(record.digest, "e" * 64)
    assert main([missing, str(tmp_path / "other")]) == 1
    assert "no artifact files there" in capsys.readouterr().err


def test_dest_with_other_files_is_refused_and_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = register_gguf(tmp_path / "store", tmp_path)
    dest = tmp_path / "models"
    dest.mkdir()
    (dest / "theirs.bin").write_bytes(b"x")
    (dest / STAGING_DIR).mkdir()  # a killed earlier run's leftovers are cleared
    assert main([record.artifact_uri, str(dest)]) == 1
    assert "is not empty" in capsys.readouterr().err
    assert sorted(p.name for p in dest.iterdir()) == ["theirs.bin"]


def test_usage_is_one_uri_and_one_destination(capsys: pytest.CaptureFixture[str]) -> None:
    # KServe passes pairs for several URIs only to containers declaring multi-model downloads
    assert main(["s3://b/m/1/" + "a" * 64 + "/files/", "/mnt/models", "s3://b/x", "/mnt/x"]) == 2
    assert "got 4 arguments" in capsys.readouterr().err


def test_an_s3_artifact_is_verified_with_the_standard_aws_variables(tmp_path: Path) -> None:
    write_gguf(tmp_path / "src" / "model.gguf", metadata={"general.name": "s3"})
    (tmp_path / "src" / "config.json").write_text("{}")
    with moto_server() as endpoint:
        env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        client.create_bucket(Bucket=BUCKET)
        registry = ModelRegistry(S3Store(client, BUCKET, "registry"))
        meta = record_meta(str(tmp_path / "src"))
        record = registry.register(tmp_path / "src", name=MODEL, version="1.0.0", **meta).record  # type: ignore[arg-type]
        assert record.artifact_uri.startswith(f"s3://{BUCKET}/registry/{MODEL}/1.0.0/")
        assert re.search(uri_pattern(f"s3://{BUCKET}/registry"), record.artifact_uri)

        dest = tmp_path / "good"
        done = initialize(record.artifact_uri, dest, env)
        assert done.returncode == 0, done.stderr
        assert sorted(p.name for p in dest.iterdir()) == ["config.json", "model.gguf"]
        assert digest_directory(dest).digest == record.digest

        key = f"registry/{MODEL}/1.0.0/{record.digest}/files/config.json"
        client.put_object(Bucket=BUCKET, Key=key, Body=b'{"tampered": true}')
        dest = tmp_path / "bad"
        done = initialize(record.artifact_uri, dest, env)
        assert done.returncode == 1
        assert record.artifact_uri in done.stderr and record.digest in done.stderr
        assert list(dest.iterdir()) == []


# --- the ClusterStorageContainer -----------------------------------------------------------


def test_the_uri_format_matches_only_the_platforms_artifact_uris() -> None:
    pattern = re.compile(uri_pattern("s3://my.bucket/registry/"))
    digest = "0123456789abcdef" * 4
    ours = f"s3://my.bucket/registry/llama-3-1-8b/1.0.0+rc.1/{digest}/files/"
    assert pattern.search(ours) and pattern.search(ours.rstrip("/"))
    for other in (
        f"s3://my.bucket/team-b/llama-3-1-8b/1.0.0/{digest}/files/",  # same bucket, other prefix
        f"s3://my.bucket/registry-b/llama-3-1-8b/1.0.0/{digest}/files/",  # prefix of a prefix
        f"s3://myxbucket/registry/llama-3-1-8b/1.0.0/{digest}/files/",  # "." is no wildcard
        f"s3://my.bucket/registry/llama-3-1-8b/1.0.0/{digest}/record.json",
        f"s3://my.bucket/registry/llama-3-1-8b/1.0.0/{digest[:63]}/files/",
        f"s3://my.bucket/registry/llama-3-1-8b/1.0.0/{digest}/files/model.gguf",
        f"s3://my.bucket/registry/llama-3-1-8b/1.0.0/{digest}/files/../../x/",
        f"s3://my.bucket/registry/a/llama/1.0.0/{digest}/files/",  # a nested store
        f"gs://my.bucket/registry/llama-3-1-8b/1.0.0/{digest}/files/",
        f"xs3://my.bucket/registry/llama-3-1-8b/1.0.0/{digest}/files/",
    ):
        assert not pattern.search(other), other
    bare = parse_artifact_uri(f"s3://my.bucket/m/1/{digest}/files")  # a store without prefix
    assert bare is not None and bare.root == "s3://my.bucket"
    assert re.search(uri_pattern(bare.root), f"s3://my.bucket/m/1/{digest}/files")
    loc = parse_artifact_uri(ours)
    assert loc is not None and (loc.root, loc.name, loc.version, loc.digest) == (
        "s3://my.bucket/registry",
        "llama-3-1-8b",
        "1.0.0+rc.1",
        digest,
    )


def test_the_storage_container_is_rendered_for_every_kserve_engine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PLATFORM_IMAGE_ENV, "registry.example.com/ml/llm-platform:0.1.0")
    for engine, files in (
        ("vllm", ("config.json", "model.safetensors")),
        ("llama-cpp", ("model.gguf",)),
        ("builtin", ("config.json", "weights.npz")),
    ):
        rev = revision("r-blue", DIGEST_A, 100, "blue", engine=engine)
        spec = DeploymentSpec(env="prod", model="m", revisions=[rev])
        docs = render(spec, placement("kserve"), {"r-blue": files})
        csc, isvc = docs[0], docs[-1]
        validate_manifest(csc)
        assert csc["metadata"]["name"] == STORAGE_CONTAINER
        assert isvc["spec"]["predictor"]["storageContainerName"] == STORAGE_CONTAINER
        container = csc["spec"]["container"]
        assert container["name"] == INIT_CONTAINER  # KServe reports failures of this name
        assert container["image"] == "registry.example.com/ml/llm-platform:0.1.0"
        assert container["command"] == ["python", "-m", MODULE]
        assert "args" not in container  # KServe's <storageUri> /mnt/models stay
        assert csc["spec"]["workloadType"] == "initContainer"
        (fmt,) = csc["spec"]["supportedUriFormats"]
        assert fmt == {"regex": uri_pattern(STORE)}
        assert re.search(fmt["regex"], isvc["spec"]["predictor"]["model"]["storageUri"])
    bad = storage_container([STORE]) | {"spec": {"container": {"name": "x"}}}
    with pytest.raises(AssertionError, match="supportedUriFormats"):
        validate_manifest(bad)  # the vendored schema does check


def test_kserve_refuses_an_artifact_it_could_not_verify() -> None:
    rev = revision("r-blue", DIGEST_A, 100, "blue")
    for uri in (
        "s3://bucket/models/m/files/",  # no digest in the URI
        f"{STORE}/m/1.0.0/{'b' * 64}/files/",  # the URI names another digest
    ):
        spec = DeploymentSpec(
            env="prod", model="m", revisions=[rev.model_copy(update={"artifact_uri": uri})]
        )
        with pytest.raises(InvalidDeploymentSpec, match="KServe could not verify it"):
            render(spec, placement("kserve"), {"r-blue": ("model.gguf",)})
    # the deployment workload verifies with the revision's own digest: any store URI works
    spec = DeploymentSpec(
        env="prod",
        model="m",
        revisions=[rev.model_copy(update={"artifact_uri": "s3://bucket/models/m/files/"})],
    )
    assert render(spec, placement("deployment"), {"r-blue": ("model.gguf",)})
    two = [rev, revision("r-green", "c" * 64, 0, "green")]
    assert artifact_stores(DeploymentSpec(env="prod", model="m", revisions=two)) == [STORE]
