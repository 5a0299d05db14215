"""The object store interface the model registry is built on: keys to immutable byte blobs.

Two implementations exist: :class:`~llm_platform.artifact_store.local_store.LocalDirStore` (a
directory) and :class:`~llm_platform.artifact_store.s3_store.S3Store` (a bucket + key prefix
through a boto3 client). Keys are relative POSIX paths (``a/b/c``); the store maps them onto
its root.

Every write is atomic per key: a reader sees either the previous object or the complete new one,
never a partial file. Files are hashed while they are written, so a store never holds bytes that
differ from what the caller expected (``put_file(..., expected=...)`` raises instead).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

from llm_platform.artifact_store.artifact_io import SparseWriter
from llm_platform.common.digest import CHUNK_SIZE, FileEntry
from llm_platform.common.errors import PlatformError


class StoreError(PlatformError):
    """The artifact store failed or refused an operation; the message names the key."""


class ObjectNotFoundError(StoreError):
    """A key does not exist in the store."""


def check_key(key: str) -> str:
    """Validate a store key: relative, POSIX, no empty/``.``/``..`` segments.

    Args:
        key: the key to check.

    Returns:
        The key unchanged.

    Raises:
        StoreError: the key could escape the store root or is malformed.
    """
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise StoreError(f"invalid store key {key!r}: must be a relative POSIX path")
    for part in key.split("/"):
        if part in ("", ".", ".."):
            raise StoreError(f"invalid store key {key!r}: bad path segment {part!r}")
    return key


class ObjectStore(ABC):
    """Keys to byte blobs, with streaming, hash-verified writes and reads."""

    @property
    @abstractmethod
    def uri(self) -> str:
        """The store's base URI (``file:///abs/dir`` or ``s3://bucket/prefix``)."""

    @abstractmethod
    def key_uri(self, key: str) -> str:
        """The URI of one key (or key prefix) in this store."""

    @abstractmethod
    def put_file(self, key: str, src: Path, *, expected: FileEntry | None = None) -> FileEntry:
        """Stream a local file into ``key``, hashing the bytes while they are written.

        Args:
            key: destination key.
            src: local file to read.
            expected: when given, the size and sha256 the bytes must have; on a mismatch
                nothing is left at ``key`` and :class:`StoreError` is raised.

        Returns:
            The entry (path = key, size, sha256) of the bytes stored.
        """

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None:
        """Write a small object atomically (records, pointers)."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes | None:
        """Read a small object, or ``None`` when the key does not exist."""

    @abstractmethod
    def iter_chunks(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Stream an object's bytes.

        Raises:
            ObjectNotFoundError: the key does not exist.
        """

    @abstractmethod
    def list_keys(self, prefix: str) -> list[str]:
        """Every key under ``prefix`` (a key prefix ending with ``/``), sorted."""

    def hash_object(self, key: str) -> tuple[str, int]:
        """Re-hash an object from the store in constant memory.

        Returns:
            (sha256 hex, size in bytes).

        Raises:
            ObjectNotFoundError: the key does not exist.
        """
        h = hashlib.sha256()
        size = 0
        for chunk in self.iter_chunks(key):
            h.update(chunk)
            size += len(chunk)
        return h.hexdigest(), size

    def download(self, key: str, dest: Path, *, expected: FileEntry) -> None:
        """Copy an object to a local file, verifying size and sha256 before it appears.

        The bytes go to a temporary file next to ``dest`` (runs of zeros as holes) that
        replaces ``dest`` only when the hash matches.

        Raises:
            StoreError: the stored bytes do not match ``expected``.
            ObjectNotFoundError: the key does not exist.
        """
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.part")
        h = hashlib.sha256()
        size = 0
        try:
            with SparseWriter(tmp) as out:
                for chunk in self.iter_chunks(key):
                    h.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            if (h.hexdigest(), size) != (expected.sha256, expected.size):
                raise StoreError(
                    f"{self.key_uri(key)}: stored bytes do not match the record "
                    f"(sha256 {h.hexdigest()} size {size}, expected {expected.sha256} "
                    f"size {expected.size})"
                )
            tmp.replace(dest)
        finally:
            tmp.unlink(missing_ok=True)
