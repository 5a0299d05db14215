"""Where a ``local`` model source may point: inside the models repo, or under an allow-list.

A commit must not be able to copy files of the host into the artifact store, so a ``local``
source is a path relative to the models repo that stays inside it: no ``..`` segment, and no
symlink (of the path itself or inside the directory it names) that resolves outside the repo.
An absolute path is accepted only below a directory the platform operator allow-listed in
:data:`~llm_platform.settings.ALLOWED_SOURCE_PATHS_ENV`; the repo can never widen that list.

The same rule is applied by ``llm-platform validate`` (the problem names ``source.uri``) and
again at registration, against the files actually fetched.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from llm_platform.settings import ALLOWED_SOURCE_PATHS_ENV

#: The config field a local-source problem is reported on.
SOURCE_URI_FIELD = "source.uri"


def relative_source_problem(uri: str) -> str | None:
    """Why the repo-relative ``uri`` cannot name a path inside the repo, judged on its text only.

    Returns:
        ``None`` for an absolute path (judged by :func:`local_source_problem`) or a relative
        path without ``..`` segments; otherwise the reason.
    """
    if "\x00" in uri:
        return "a local source path must not contain a NUL byte"
    if Path(uri).is_absolute():
        return None
    if ".." in PurePosixPath(uri).parts:
        return (
            f"local source {uri!r} leaves the models repo ('..'): a local source is a path "
            "inside the repo"
        )
    return None


def _escaping_link(real: Path, roots: Sequence[Path]) -> Path | None:
    """The first symlink under the directory ``real`` whose target is outside every root."""
    if not real.is_dir():
        return None
    for dirpath, dirnames, filenames in os.walk(real):
        for name in (*dirnames, *filenames):
            entry = Path(dirpath) / name
            if entry.is_symlink() and not _inside(entry.resolve(), roots):
                return entry
    return None


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path.is_relative_to(root) for root in roots)


def _allow_list_text(allowed: Sequence[Path]) -> str:
    if not allowed:
        return f"{ALLOWED_SOURCE_PATHS_ENV} is not set"
    return f"{ALLOWED_SOURCE_PATHS_ENV}={os.pathsep.join(str(p) for p in allowed)}"


def local_source_problem(
    uri: str, repo_root: Path | None, allowed: Sequence[Path] = ()
) -> str | None:
    """Why ``uri`` may not be used as a ``local`` source; ``None`` when it may.

    Args:
        uri: the ``source.uri`` of a ``local`` source.
        repo_root: the models repo checkout relative paths are resolved in; ``None`` judges
            the text only (no symlink check).
        allowed: the operator's allow-list of absolute host directories (or files).

    Returns:
        The reason, naming the path and, for host paths, the allow-list variable.
    """
    problem = relative_source_problem(uri)
    if problem is not None:
        return problem
    path = Path(uri)
    if path.is_absolute():
        real = path.resolve()
        roots = [root.resolve() for root in allowed]
        if not _inside(real, roots):
            shown = uri if real == path else f"{uri} (resolves to {real})"
            return (
                f"absolute local source {shown} is outside the models repo; a host path is "
                "accepted only under a directory the platform operator allow-lists in "
                f"{ALLOWED_SOURCE_PATHS_ENV} ({_allow_list_text(allowed)})"
            )
        link = _escaping_link(real, roots)
        if link is not None:
            return f"local source {uri!r}: symlink {link} points outside the allow-listed paths"
        return None
    if repo_root is None:
        return None
    root = repo_root.resolve()
    real = (repo_root / path).resolve()
    if not real.is_relative_to(root):
        return f"local source {uri!r} resolves to {real}, outside the models repo (a symlink)"
    link = _escaping_link(real, [root])
    if link is not None:
        return f"local source {uri!r}: symlink {link} points outside the models repo"
    return None
