"""Where a models repo lives on disk: in place (local work tree) or as a bare cache mirror."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from llm_platform.common.fsutil import file_lock
from llm_platform.gitops.runner import FETCH_TIMEOUT_S, GitError, run_git

_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SCP_RE = re.compile(r"^(?:[^@/:]+@)?[^@/:]+:(?!//)")
_FETCH_REFSPEC = "+refs/heads/*:refs/heads/*"


def default_cache_root() -> Path:
    """``$XDG_CACHE_HOME/llm-platform/git`` (``~/.cache/llm-platform/git`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llm-platform" / "git"


def resolve_location(location: str) -> tuple[Path | None, str | None]:
    """Classify ``location`` as ``(local work tree, None)`` or ``(None, remote url)``.

    A local directory with a ``.git`` is read in place; a bare repository directory, a
    ``scheme://`` URL or an scp-like ``[user@]host:path`` is mirrored.

    Raises:
        GitError: the location is empty, or a local path that is not a git repository.
    """
    if not location.strip():
        raise GitError("models repository location is empty")
    if _URL_RE.match(location):
        return None, location
    path = Path(location).expanduser()
    if path.exists():
        path = path.resolve()
        if not path.is_dir():
            raise GitError(f"models repository {location} is not a directory")
        if (path / ".git").exists():
            return path, None
        if (path / "HEAD").is_file() and (path / "objects").is_dir():
            return None, str(path)
        raise GitError(f"models repository {location} is not a git repository (no .git)")
    if _SCP_RE.match(location):
        return None, location
    raise GitError(f"models repository {location} does not exist")


def cache_path(url: str, cache_root: Path) -> Path:
    """The cache clone directory of ``url`` under ``cache_root``."""
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    return cache_root / digest


@contextlib.contextmanager
def locked(mirror: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``mirror`` (sensor and runs may fetch concurrently)."""
    with file_lock(mirror.with_name(mirror.name + ".lock")):
        yield


def is_initialised(mirror: Path) -> bool:
    """True once :func:`fetch_mirror` has created the cache clone."""
    return (mirror / "HEAD").is_file() and (mirror / "llm-platform-url").is_file()


def _init_mirror(mirror: Path, url: str) -> None:
    tmp = mirror.with_name(f"{mirror.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        run_git(None, ["init", "--quiet", "--bare", str(tmp)])
        run_git(tmp, ["config", "remote.origin.url", url])
        run_git(tmp, ["config", "gc.autoDetach", "false"])
        (tmp / "llm-platform-url").write_text(url + "\n", encoding="utf-8")
        tmp.rename(mirror)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch_mirror(mirror: Path, url: str) -> None:
    """Create (if needed) and fetch the bare cache clone of ``url``.

    Every branch is fetched with ``--prune --force`` so deleted branches disappear and
    force-pushed branches move to the rewritten history.

    Raises:
        GitError: the fetch failed, or the cache directory belongs to another URL.
    """
    with locked(mirror):
        if mirror.exists() and not is_initialised(mirror):
            raise GitError(f"cache directory {mirror} exists but is not a cache clone of {url}")
        if not mirror.exists():
            _init_mirror(mirror, url)
        recorded = (mirror / "llm-platform-url").read_text(encoding="utf-8").strip()
        if recorded != url:
            raise GitError(f"cache directory {mirror} mirrors {recorded}, not {url}")
        run_git(
            mirror,
            ["fetch", "--quiet", "--prune", "--force", "--no-tags", "origin", _FETCH_REFSPEC],
            timeout=FETCH_TIMEOUT_S,
            where=url,
        )
