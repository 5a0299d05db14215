"""Content addressing: streaming sha256 of files and the manifest digest of an artifact directory.

The manifest digest identifies an artifact as a whole: sha256 over one line
``"<file sha256>  <relative posix path>\\n"`` per regular file, in the order of the paths (sorted
as strings). Two directories with the same files (names and bytes) have the same digest wherever
they live.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field

from llm_platform.common.errors import PlatformError

CHUNK_SIZE = 4 * 1024 * 1024
#: Hex characters of a sha256 digest.
SHA256_HEX_LENGTH = 64
#: A full sha256 digest: 64 lowercase hex characters, no ``sha256:`` prefix.
SHA256_HEX_PATTERN = r"^[0-9a-f]{64}$"
#: The prefix OCI references and suite hashes put before a digest.
SHA256_PREFIX = "sha256:"

#: A pydantic field holding a full sha256 digest.
Sha256Hex = Annotated[str, Field(pattern=SHA256_HEX_PATTERN)]


def bare_digest(value: str) -> str:
    """``value`` as given by a person or another tool (``sha256:<hex>`` or ``<hex>``, any case,
    surrounding blanks) reduced to lowercase hex; not validated."""
    return value.strip().lower().removeprefix(SHA256_PREFIX)


class DigestError(PlatformError):
    """An artifact cannot be hashed (missing, not a regular file, escaping symlink)."""


class FileEntry(BaseModel):
    """One file of an artifact."""

    path: str
    size: int
    sha256: str


class ArtifactManifest(BaseModel):
    """Every file of an artifact and the digest over them."""

    digest: str
    files: list[FileEntry]

    @property
    def total_size(self) -> int:
        """Sum of the file sizes in bytes."""
        return sum(f.size for f in self.files)


def hash_file(path: Path, *, chunk_size: int = CHUNK_SIZE) -> tuple[str, int]:
    """Stream a file through sha256 in constant memory.

    Args:
        path: the file to hash.
        chunk_size: bytes read at a time.

    Returns:
        (hex digest, size in bytes).
    """
    h = hashlib.sha256()
    size = 0
    buf = bytearray(chunk_size)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
            size += n
    return h.hexdigest(), size


def manifest_digest(files: list[FileEntry]) -> str:
    """The digest of a set of file entries (order-independent)."""
    h = hashlib.sha256()
    for entry in sorted(files, key=lambda e: e.path):
        h.update(f"{entry.sha256}  {entry.path}\n".encode())
    return h.hexdigest()


def digest_directory(
    root: Path, *, hash_fn: Callable[[Path], tuple[str, int]] = hash_file
) -> ArtifactManifest:
    """Hash every regular file under ``root`` (or ``root`` itself if it is a file).

    Args:
        root: the artifact directory or single file.
        hash_fn: returns (sha256 hex, size) of one file; e.g. a stat-keyed cache in front of
            :func:`hash_file`.

    Raises:
        DigestError: root is missing or empty, or a symlink points outside root.
    """
    if not root.exists():
        raise DigestError(f"{root}: artifact path does not exist")
    if root.is_file():
        sha, size = hash_fn(root)
        entries = [FileEntry(path=root.name, size=size, sha256=sha)]
        return ArtifactManifest(digest=manifest_digest(entries), files=entries)
    resolved_root = root.resolve()
    entries = []
    for p in sorted(root.rglob("*")):
        if p.is_symlink() and not p.resolve().is_relative_to(resolved_root):
            raise DigestError(f"{p}: symlink points outside the artifact directory")
        if not p.is_file():
            continue
        sha, size = hash_fn(p)
        entries.append(FileEntry(path=p.relative_to(root).as_posix(), size=size, sha256=sha))
    if not entries:
        raise DigestError(f"{root}: artifact directory contains no files")
    return ArtifactManifest(digest=manifest_digest(entries), files=entries)
