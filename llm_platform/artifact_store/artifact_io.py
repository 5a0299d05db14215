"""Moving artifact bytes in constant memory: sparse-preserving writes, cheap copies, a size limit.

Model weights are large and often mostly zeros (pre-allocated or sparse files). Every copy the
platform makes goes through :class:`SparseWriter`, which skips all-zero chunks with a seek, so a
sparse source stays sparse on disk instead of costing its apparent size once per copy. Memory
stays one chunk (:data:`~llm_platform.common.digest.CHUNK_SIZE`) whatever the file size.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType
from typing import IO

from llm_platform.common.digest import CHUNK_SIZE
from llm_platform.common.errors import PlatformError
from llm_platform.settings import MAX_ARTIFACT_BYTES_ENV

_ZEROS = bytes(CHUNK_SIZE)
# ioctl(dest_fd, FICLONE, src_fd): copy-on-write clone on btrfs/xfs (linux/fs.h).
_FICLONE = 0x40049409


class ArtifactTooLargeError(PlatformError):
    """An artifact is larger than the configured limit; nothing was copied past the check."""


def check_artifact_size(total: int, limit: int | None, what: str) -> None:
    """Refuse ``total`` bytes when it exceeds ``limit`` (``None``: no limit).

    Raises:
        ArtifactTooLargeError: naming ``what``, both sizes and the variable that sets the limit.
    """
    if limit is not None and total > limit:
        raise ArtifactTooLargeError(
            f"{what} is {total} bytes, over the artifact size limit of {limit} bytes "
            f"({MAX_ARTIFACT_BYTES_ENV})"
        )


def _is_zero(chunk: bytes | bytearray | memoryview) -> bool:
    # bytes/bytearray equality is a memcmp; memoryview equality compares item by item (slow).
    data = chunk if isinstance(chunk, bytes | bytearray) else bytes(chunk)
    return data == (_ZEROS if len(data) == CHUNK_SIZE else _ZEROS[: len(data)])


class SparseWriter:
    """A write-only file that turns all-zero chunks into holes (seek instead of write).

    Args:
        path: the file to create (truncated when it exists).
    """

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self.size = 0

    def write(self, chunk: bytes | bytearray | memoryview) -> None:
        """Append ``chunk`` (a hole when it is all zeros)."""
        n = len(chunk)
        if n == 0:
            return
        if _is_zero(chunk):
            os.lseek(self._fd, n, os.SEEK_CUR)
        else:
            view = memoryview(chunk)
            while view:
                view = view[os.write(self._fd, view) :]
        self.size += n

    def fileno(self) -> int:
        """The underlying descriptor (for fsync)."""
        return self._fd

    def sync(self) -> None:
        """Fix the length and flush the file to disk (before a rename makes it visible)."""
        os.ftruncate(self._fd, self.size)
        os.fsync(self._fd)

    def close(self) -> None:
        """Fix the length (a trailing hole has no bytes written) and close."""
        if self._fd < 0:
            return
        try:
            os.ftruncate(self._fd, self.size)
        finally:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> SparseWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def copy_stream(src: IO[bytes], dest: Path, *, limit: int | None = None) -> int:
    """Copy ``src`` to a new file ``dest`` chunk by chunk, keeping zero runs sparse.

    Returns:
        Bytes copied.

    Raises:
        ArtifactTooLargeError: more than ``limit`` bytes arrived (``dest`` is removed).
    """
    try:
        with SparseWriter(dest) as out:
            while chunk := src.read(CHUNK_SIZE):
                out.write(chunk)
                check_artifact_size(out.size, limit, str(dest.name))
            return out.size
    except BaseException:
        dest.unlink(missing_ok=True)
        raise


def clone_or_copy(src: Path, dest: Path) -> None:
    """Make ``dest`` an independent copy of ``src``: reflink when the filesystem can, else a
    sparse-preserving streaming copy. Never a hard link (``dest`` may be written later)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as fin:
        try:
            with open(dest, "wb") as fout:
                fcntl.ioctl(fout.fileno(), _FICLONE, fin.fileno())
            return
        except OSError:
            dest.unlink(missing_ok=True)  # no reflink here (ext4, overlayfs, tmpfs, ...)
        copy_stream(fin, dest)


def link_or_copy(src: Path, dest: Path) -> None:
    """Hard-link ``src`` to ``dest`` (O(1), same inode) or, across filesystems, copy it.

    Only for read-only consumers: a hard link shares the bytes with ``src``.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        clone_or_copy(src, dest)
