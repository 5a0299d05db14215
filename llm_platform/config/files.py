"""Reading configuration files from disk safely (size, file type, symlinks)."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from llm_platform.config.problems import ConfigError, Problem
from llm_platform.config.yaml_loader import MAX_FILE_BYTES


class MissingConfigFile(ConfigError):
    """The config file does not exist (a :class:`ConfigError` callers may treat specially)."""


def read_config_bytes(path: Path, *, repo_root: Path | None = None) -> bytes:
    """Read a config file safely: regular files only, at most 1 MiB, inside ``repo_root``.

    Args:
        path: The file to read.
        repo_root: When given, the file (after resolving every symlink) must lie inside it.

    Returns:
        The raw bytes.

    Raises:
        ConfigError: The file is missing (:class:`MissingConfigFile`), not a regular file, too
            large, or escapes ``repo_root``.
    """
    if repo_root is not None:
        ensure_inside(Path(path), Path(repo_root).resolve())
    return _read_regular(Path(path), follow_symlinks=True)


def read_repo_file(path: Path, *, repo_root: Path, directory_inside: bool) -> bytes:
    """Like :func:`read_config_bytes`, with a fast path for scans of a repository.

    Args:
        path: The file to read.
        repo_root: The repository root, already resolved.
        directory_inside: The caller knows ``path.parent`` lies inside the repository (no
            symlink on the way); then a file that is not itself a symlink needs no resolving.

    Raises:
        ConfigError: As :func:`read_config_bytes`.
    """
    if directory_inside:
        try:
            return _read_regular(path, follow_symlinks=False)
        except _IsSymlink:
            pass
    ensure_inside(path, repo_root)
    return _read_regular(path, follow_symlinks=True)


def ensure_inside(path: Path, resolved_root: Path) -> None:
    """Refuse ``path`` when it resolves (through symlinks) outside ``resolved_root``.

    Raises:
        ConfigError: The path escapes the repository.
    """
    resolved = path.resolve()
    if not resolved.is_relative_to(resolved_root):
        message = f"resolves to {resolved}, outside the repository {resolved_root}; refusing it"
        raise ConfigError([Problem(path=str(path), message=message)])


class _IsSymlink(Exception):
    """Raised internally when a no-follow open meets a symlink."""


def _read_regular(path: Path, *, follow_symlinks: bool) -> bytes:
    shown = str(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise MissingConfigFile([Problem(path=shown, message="file not found")]) from None
    except OSError as exc:
        if not follow_symlinks and exc.errno == errno.ELOOP:
            raise _IsSymlink(shown) from None
        raise ConfigError([Problem(path=shown, message=f"cannot read: {exc.strerror}")]) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError([Problem(path=shown, message="not a regular file")])
        if info.st_size > MAX_FILE_BYTES:
            message = f"file is {info.st_size} bytes; the limit is {MAX_FILE_BYTES} bytes (1 MiB)"
            raise ConfigError([Problem(path=shown, message=message)])
        chunks = []
        remaining = MAX_FILE_BYTES + 1  # one byte over is enough to refuse a file that grew
        while remaining > 0:
            chunk = os.read(fd, remaining)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise ConfigError([Problem(path=shown, message=f"cannot read: {exc.strerror}")]) from None
    finally:
        os.close(fd)
