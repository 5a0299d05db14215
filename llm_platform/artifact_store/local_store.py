"""An object store on a local directory (the embedded default).

Each key is a file under ``root``. Writes go to a temporary file in the destination's own
directory, are fsynced, then ``os.replace``-d into place (atomic on POSIX), and the directory is
fsynced so the rename itself survives a power loss. Temporary files start with ``.`` and end
with ``.tmp``; a crash can leave one behind, never a partial object under a real key.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from llm_platform.artifact_store.artifact_io import SparseWriter
from llm_platform.artifact_store.store import (
    ObjectNotFoundError,
    ObjectStore,
    StoreError,
    check_key,
)
from llm_platform.common.digest import CHUNK_SIZE, FileEntry
from llm_platform.common.fsutil import atomic_write_bytes, fsync_dir


class LocalDirStore(ObjectStore):
    """Keys stored as files below a root directory.

    Args:
        root: the store directory; created when missing.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalDirStore({str(self.root)!r})"

    @property
    def uri(self) -> str:
        """``file://`` URI of the root directory."""
        return self.root.as_uri()

    def key_uri(self, key: str) -> str:
        """``file://`` URI of one key."""
        uri = (self.root / check_key(key.rstrip("/"))).as_uri()
        return uri + "/" if key.endswith("/") else uri

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _tmp_for(self, dest: Path) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        return dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:12]}.tmp")

    def put_file(self, key: str, src: Path, *, expected: FileEntry | None = None) -> FileEntry:
        """Copy ``src`` to ``key`` in one streaming pass that also hashes the bytes.

        Runs of zeros stay holes (a sparse source costs its data, not its apparent size).

        Raises:
            StoreError: the bytes copied differ from ``expected`` (the source changed).
        """
        dest = self._path(key)
        tmp = self._tmp_for(dest)
        h = hashlib.sha256()
        size = 0
        buf = bytearray(CHUNK_SIZE)
        view = memoryview(buf)
        try:
            with open(src, "rb", buffering=0) as fin, SparseWriter(tmp) as fout:
                while n := fin.readinto(buf):
                    h.update(view[:n])
                    fout.write(buf if n == CHUNK_SIZE else view[:n])
                    size += n
                fout.sync()
            entry = FileEntry(path=key, size=size, sha256=h.hexdigest())
            if expected is not None and (entry.sha256, entry.size) != (
                expected.sha256,
                expected.size,
            ):
                raise StoreError(
                    f"{src}: content changed while being stored into {self.key_uri(key)} "
                    f"(sha256 {entry.sha256}, expected {expected.sha256})"
                )
            os.replace(tmp, dest)
            fsync_dir(dest.parent)
            return entry
        finally:
            tmp.unlink(missing_ok=True)

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write ``data`` to ``key`` atomically (temp file + fsync + rename)."""
        atomic_write_bytes(self._path(key), data)

    def get_bytes(self, key: str) -> bytes | None:
        """Read a whole (small) object, or ``None`` when missing."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def iter_chunks(self, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Stream a file's bytes in ``chunk_size`` pieces."""
        path = self._path(key)
        try:
            f = open(path, "rb", buffering=0)
        except FileNotFoundError:
            raise ObjectNotFoundError(f"{self.key_uri(key)}: no such object") from None
        with f:
            while chunk := f.read(chunk_size):
                yield chunk

    def list_keys(self, prefix: str) -> list[str]:
        """Every stored key under ``prefix`` (temporary files excluded), sorted."""
        base = self.root / check_key(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if not base.is_dir():
            return []
        keys = []
        for p in base.rglob("*"):
            if p.is_file() and not (p.name.startswith(".") and p.name.endswith(".tmp")):
                keys.append(p.relative_to(self.root).as_posix())
        return sorted(keys)
