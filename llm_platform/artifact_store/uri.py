"""Open an object store from a URI: a local directory path (or ``file://``) or ``s3://bucket/prefix``."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from llm_platform.artifact_store.local_store import LocalDirStore
from llm_platform.artifact_store.s3_store import S3Store
from llm_platform.artifact_store.store import ObjectStore, StoreError


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key/prefix`` into (bucket, key prefix without slashes at the ends).

    Raises:
        StoreError: not an ``s3://`` URI or no bucket.
    """
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise StoreError(f"invalid S3 URI {uri!r}: expected s3://<bucket>/<prefix>")
    return parsed.netloc, parsed.path.strip("/")


def open_store(uri: str, *, s3_client: Any | None = None) -> ObjectStore:
    """The store a URI names.

    Args:
        uri: ``s3://bucket/prefix``, ``file:///dir`` or a directory path.
        s3_client: boto3 S3 client for ``s3://`` URIs; by default ``boto3.client("s3")``,
            which reads the endpoint and credentials from the standard ``AWS_*`` variables
            (``AWS_ENDPOINT_URL`` included).

    Raises:
        StoreError: an empty URI or an unsupported scheme.
    """
    if not uri or not uri.strip():
        raise StoreError("artifact store URI is empty (set ARTIFACT_STORE_URI)")
    if uri.startswith("s3://"):
        bucket, prefix = parse_s3_uri(uri)
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3")
        return S3Store(s3_client, bucket, prefix)
    if uri.startswith("file://"):
        return LocalDirStore(Path(urlparse(uri).path))
    if "://" in uri:
        raise StoreError(f"unsupported artifact store URI {uri!r}: use a directory or s3://")
    return LocalDirStore(Path(uri))
