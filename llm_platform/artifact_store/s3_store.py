"""An object store on S3 (or any S3-compatible server) through a boto3 client.

Keys map to ``s3://<bucket>/<prefix>/<key>``. A single S3 PUT (or a completed multipart
upload) is atomic: readers never see a partial object. Files are hashed while they are uploaded
(the upload reads through a hashing wrapper, sequentially); when the hash differs from the
expected one the object is deleted again and an error is raised. The endpoint and credentials
come from the client (for the CLI/pipeline: the standard ``AWS_*`` environment variables,
including ``AWS_ENDPOINT_URL``), never from parameters of this module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from llm_platform.artifact_store.store import (
    ObjectNotFoundError,
    ObjectStore,
    StoreError,
    check_key,
)
from llm_platform.common.digest import CHUNK_SIZE, FileEntry


class _HashingReader:
    """A read-only, non-seekable file wrapper that hashes what is read (forces sequential reads)."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self.sha = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self.sha.update(data)
        self.size += len(data)
        return data


def _is_not_found(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


class S3Store(ObjectStore):
    """Keys stored as objects under ``s3://bucket/prefix/``.

    Args:
        client: a boto3 S3 client (e.g. ``S3Resource.get_client()`` or ``boto3.client("s3")``).
        bucket: bucket name.
        prefix: key prefix inside the bucket (may be empty).
    """

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        if not bucket or "/" in bucket:
            raise StoreError(f"invalid S3 bucket name {bucket!r}")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            check_key(self.prefix)

    def __repr__(self) -> str:
        return f"S3Store(bucket={self.bucket!r}, prefix={self.prefix!r})"

    @property
    def uri(self) -> str:
        """``s3://bucket/prefix``."""
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def _key(self, key: str) -> str:
        check_key(key.rstrip("/"))
        return f"{self.prefix}/{key}" if self.prefix else key

    def key_uri(self, key: str) -> str:
        """``s3://bucket/prefix/key``."""
        return f"s3://{self.bucket}/{self._key(key)}"

    def put_file(self, key: str, src: Path, *, expected: FileEntry | None = None) -> FileEntry:
        """Upload ``src`` to ``key`` while hashing it (multipart for large files).

        Raises:
            StoreError: the uploaded bytes differ from ``expected``; the object is removed.
        """
        s3_key = self._key(key)
        with open(src, "rb") as f:
            reader = _HashingReader(f)
            self.client.upload_fileobj(reader, self.bucket, s3_key)
        entry = FileEntry(path=key, size=reader.size, sha256=reader.sha.hexdigest())
        if expected is not None and (entry.sha256, entry.size) != (
            expected.sha256,
            expected.size,
        ):
            self.client.delete_object(Bucket=self.bucket, Key=s3_key)
            raise StoreError(
                f"{src}: content changed while being uploaded to {self.key_uri(key)} "
                f"(sha256 {entry.sha256}, expected {expected.sha256})"
            )
        return entry

    def put_bytes(self, key: str, data: bytes) -> None:
        """Upload a small object with one PUT."""
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def get_bytes(self, key: str) -> bytes | None:
        """Read a whole (small) object, or ``None`` when missing."""
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            if _is_not_found(exc):
                return None
            raise
        body: bytes = resp["Body"].read()
        return body

    def iter_chunks(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Stream an object's body in ``chunk_size`` pieces."""
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            if _is_not_found(exc):
                raise ObjectNotFoundError(f"{self.key_uri(key)}: no such object") from None
            raise
        body = resp["Body"]
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def list_keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (relative to the store prefix), sorted."""
        if prefix.strip("/"):
            full = self._key(prefix)
        else:
            full = f"{self.prefix}/" if self.prefix else ""
        strip = len(self.prefix) + 1 if self.prefix else 0
        keys = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
            for obj in page.get("Contents", []):
                keys.append(obj["Key"][strip:])
        return sorted(keys)
