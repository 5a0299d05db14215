"""Export a subtree of the models repo at a commit into a directory (no checkout, no work tree)."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path

from llm_platform.gitops.files import normalise_path
from llm_platform.gitops.runner import GitError, GitPathNotFoundError

#: ``run(args) -> stdout`` of a git command in the repository.
GitArchiveRunner = Callable[[list[str]], bytes]


def export_tree(run: GitArchiveRunner, sha: str, path: str, dest: Path, location: str) -> Path:
    """Write ``path`` (a file or directory) as it is at ``sha`` under ``dest``.

    Uses ``git archive`` and extracts with the tarfile ``data`` filter, so symlinks pointing
    outside ``dest``, absolute names and special files are refused.

    Returns:
        ``dest / path``.

    Raises:
        GitPathNotFoundError: ``path`` does not exist at ``sha``.
        GitError: git failed or the archive holds something unsafe.
    """
    rel = normalise_path(path)
    listing = run(["ls-tree", "--name-only", sha, "--", rel])
    if not listing.strip():
        raise GitPathNotFoundError(f"{location}: {rel} at {sha[:12]}: no such file")
    data = run(["archive", "--format=tar", sha, "--", rel])
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise GitError(f"{location}: cannot export {rel} at {sha[:12]}: {exc}") from exc
    return dest / rel
