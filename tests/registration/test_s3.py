"""kfp.local registration into an S3 artifact store (moto) from an S3 source, via the resources."""

from __future__ import annotations

from pathlib import Path

import numpy
import pytest
import safetensors.numpy

from llm_platform.common.digest import digest_directory
from llm_platform.config import ModelConfig
from resources.artifact_store import S3ArtifactStore
from resources.registrar import LocalKfpRegistrarResource
from tests.helpers.registry_fixtures import moto_server, s3_resource, set_aws_env

BUCKET = "models-bucket"


def test_kfp_local_registers_s3_source_into_s3_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = safetensors.numpy.save({"w": numpy.ones((4, 4), dtype=numpy.float32)})
    with moto_server() as endpoint:
        # kfp.local tasks are subprocesses: they reach S3 through the standard AWS_* variables.
        set_aws_env(monkeypatch, endpoint)
        resource = s3_resource(endpoint)
        client = resource.get_client()
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key="upload/tiny/model.safetensors", Body=weights)
        client.put_object(Bucket=BUCKET, Key="upload/tiny/config.json", Body=b'{"d": 4}')
        store = S3ArtifactStore(s3=resource, bucket=BUCKET, prefix="registry")
        config = ModelConfig.model_validate(
            {
                "name": "tiny",
                "version": "0.1.0",
                "architecture": "llama",
                "resources": {"memory_gb": 8, "gpu_count": 1, "gpu_type": "nvidia-tesla-t4"},
                "source": {"type": "s3", "uri": f"s3://{BUCKET}/upload/tiny"},
            }
        )
        result = LocalKfpRegistrarResource(pipeline_root=str(tmp_path / "kfp")).register(
            artifact_store=store,
            config=config,
            models_repo_dir=tmp_path,
            commit_sha="1" * 40,
            run_id="run-s3",
        )
        registry = store.registry()
        assert registry.get_record("tiny", "0.1.0") == result.record
        assert registry.verify(result.record)
        assert result.record.artifact_uri.startswith(f"s3://{BUCKET}/registry/tiny/0.1.0/")
        fetched = registry.fetch(result.record, tmp_path / "serve")
        assert (fetched / "model.safetensors").read_bytes() == weights
        expected = tmp_path / "expected"
        expected.mkdir()
        (expected / "model.safetensors").write_bytes(weights)
        (expected / "config.json").write_bytes(b'{"d": 4}')
        assert result.record.digest == digest_directory(expected).digest
