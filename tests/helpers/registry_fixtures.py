"""Shared helpers for the registry/registration tests: a real moto S3 server on 127.0.0.1, a
malicious pickle, the store's modification times."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dagster_aws.s3 import S3Resource
from moto.server import ThreadedMotoServer

from llm_platform.config import ModelConfig
from llm_platform.targets.local.processes import free_port

#: A pickle whose loading would run ``echo pwned`` (never loaded: the scanner must refuse it).
MALICIOUS_PICKLE = b"cposix\nsystem\n(S'echo pwned'\ntR."


def store_mtimes(root: Path) -> dict[str, int]:
    """Modification time (ns) of every file under ``root``: unchanged means nothing rewritten."""
    return {p.as_posix(): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def model_config(name: str, version: str, source_type: str, uri: str) -> ModelConfig:
    """A valid model config with the given source."""
    return ModelConfig.model_validate(
        {
            "name": name,
            "version": version,
            "architecture": "llama",
            "resources": {"memory_gb": 8, "gpu_count": 1, "gpu_type": "nvidia-tesla-t4"},
            "source": {"type": source_type, "uri": uri},
        }
    )


@contextmanager
def moto_server() -> Iterator[str]:
    """Run a moto S3 server on a free local port; yield its endpoint URL; stop it after."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        # moto keeps its state per process, across server instances: start from empty.
        urllib.request.urlopen(
            urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=5
        ).close()
        yield endpoint
    finally:
        server.stop()


def s3_resource(endpoint: str) -> S3Resource:
    """A dagster-aws S3 resource pointed at ``endpoint`` with dummy credentials."""
    return S3Resource(
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def set_aws_env(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """Point plain boto3 clients (and kfp.local task subprocesses) at ``endpoint``."""
    for key, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)


def record_meta(source_uri: str) -> dict[str, object]:
    """Lineage fields for ``ModelRegistry.register`` in tests (a clean scan, one KFP run)."""
    return dict(
        source_uri=source_uri,
        commit_sha="c0ffee",
        config_hash="h1",
        kfp_run_id="run-1",
        kfp_run_url=None,
        scan_summary={"files": 2, "unsafe": 0},
        scan_safe=True,
    )
