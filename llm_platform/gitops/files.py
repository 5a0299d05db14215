"""Reading one file of the models repo at a commit, following symlinks inside the tree only."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable

from llm_platform.gitops.runner import GitError, GitPathNotFoundError

#: ``run(args, stdin) -> stdout`` of a git command in the repository.
GitRunner = Callable[[list[str], bytes | None], bytes]
_MAX_LINK_HOPS = 16


def normalise_path(path: str) -> str:
    """A repository-relative path in normal form.

    Raises:
        GitError: the path is absolute, leaves the repository or contains a newline.
    """
    rel = posixpath.normpath(path.strip())
    if path.startswith("/") or rel in ("..", ".") or rel.startswith("../") or "\n" in rel:
        raise GitError(f"invalid repository path {path!r}")
    return rel


def read_blob(run: GitRunner, sha: str, path: str, location: str) -> bytes:
    """Contents of ``path`` at commit ``sha``, symlinks resolved within the tree at ``sha``.

    ``git cat-file --follow-symlinks`` resolves most links in one call; links whose target has
    ``.`` components (which git does not normalise) are resolved here, one hop at a time.

    Raises:
        GitPathNotFoundError: no such file (or the target of a symlink is missing).
        GitError: not a file, a dangling or looping link, or a link that points
            outside the repository (absolute or above the root).
    """
    where = f"{path} at commit {sha[:12]} in {location}"
    rel = normalise_path(path)
    for _ in range(_MAX_LINK_HOPS):
        request = f"{sha}:{rel}\n".encode(errors="surrogateescape")
        out = run(["cat-file", "--batch", "--follow-symlinks"], request)
        header, _, rest = out.partition(b"\n")
        words = header.decode("utf-8", "replace").split(" ")
        if words[0] == "symlink":
            target = rest.rstrip(b"\n").decode("utf-8", "replace")
            raise GitError(f"symlink {where} points outside the repository ({target})")
        if words[-1] != "missing" and words[0] not in ("dangling", "loop", "notdir"):
            if len(words) != 3:
                raise GitError(f"{where}: unexpected git cat-file output {header!r}")
            if words[1] != "blob":
                raise GitError(f"{where}: is a {words[1]}, not a file")
            return rest[: int(words[2])]
        link = _link_target(run, sha, rel)
        if link is None:
            raise GitPathNotFoundError(f"{where}: no such file")
        if link.startswith("/"):
            raise GitError(f"symlink {where} points outside the repository ({link})")
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(rel), link))
        if joined == ".." or joined.startswith("../"):
            raise GitError(f"symlink {where} points outside the repository ({link})")
        rel = joined
    raise GitError(f"{where}: too many levels of symbolic links")


def _link_target(run: GitRunner, sha: str, rel: str) -> str | None:
    """The target of ``rel`` when it is a symlink at ``sha``, else None."""
    out = run(["ls-tree", "-z", sha, "--", rel], None)
    meta, _, name = out.rstrip(b"\0").partition(b"\t")
    fields = meta.split(b" ")
    if os.fsdecode(name) != rel or len(fields) != 3 or fields[0] != b"120000":
        return None
    blob = run(["cat-file", "blob", fields[2].decode("ascii")], None)
    return os.fsdecode(blob)
