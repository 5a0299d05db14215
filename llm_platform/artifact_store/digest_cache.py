"""A stat-keyed cache of file hashes, so re-registering an unchanged artifact costs ``stat`` calls.

A file's cached sha256 is reused only when its (device, inode, size, mtime_ns) are all unchanged.
Any ordinary write changes the mtime (and usually the size), and tools that replace files
(git checkout, editors, copies) create a new inode, so a changed file is re-hashed. Limitation,
by design: an in-place rewrite that keeps the same size AND restores the exact nanosecond mtime
(a deliberate ``touch -d``) is not detected by the cache; the store still hash-verifies every
byte it receives, and ``ModelRegistry.verify`` re-hashes the stored copy. Keying on the inode
instead of the path lets hard links (the local pipeline's fetch step) share entries.

The cache is a JSON file written atomically; concurrent writers can lose each other's entries
(last writer wins), which only costs a re-hash.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from llm_platform.common.digest import ArtifactManifest, digest_directory, hash_file
from llm_platform.common.fsutil import atomic_write_bytes


def _stat_key(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


class DigestCache:
    """File hashes keyed by (device, inode, size, mtime_ns), persisted as JSON.

    Args:
        path: the JSON file; created on :meth:`save`. A corrupt file is an error, not ignored.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.hits = 0
        self.misses = 0
        self._entries: dict[str, str] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text())
            except ValueError as exc:
                raise ValueError(f"{self.path}: digest cache is not valid JSON: {exc}") from exc
            if not isinstance(data, dict):
                raise ValueError(f"{self.path}: digest cache must be a JSON object")
            self._entries = {str(k): str(v) for k, v in data.items()}

    def hash_file(self, path: Path) -> tuple[str, int]:
        """(sha256, size) of ``path``, from the cache when its stat key is unchanged."""
        before = os.stat(path)
        key = _stat_key(before)
        cached = self._entries.get(key)
        if cached is not None:
            self.hits += 1
            return cached, before.st_size
        self.misses += 1
        sha, size = hash_file(path)
        if _stat_key(os.stat(path)) == key and size == before.st_size:
            self._entries[key] = sha
        return sha, size

    def digest_directory(self, root: Path) -> ArtifactManifest:
        """:func:`llm_platform.common.digest.digest_directory` with cached per-file hashes."""
        return digest_directory(root, hash_fn=self.hash_file)

    def save(self) -> None:
        """Write the cache atomically (temp file + rename)."""
        atomic_write_bytes(self.path, json.dumps(self._entries).encode())
