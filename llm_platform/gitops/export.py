"""Export a subtree of the models repo at a commit into a directory (no checkout, no work tree).

``git archive`` is read as a stream: its output goes through a pipe into a streaming tar reader,
and each file is written chunk by chunk (all-zero chunks become holes), so memory stays flat
and a sparse weights file stays sparse whatever its size.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
import tempfile
from pathlib import Path

from llm_platform.artifact_store.artifact_io import check_artifact_size, copy_stream
from llm_platform.common.digest import CHUNK_SIZE
from llm_platform.gitops.files import normalise_path
from llm_platform.gitops.runner import (
    LOCAL_TIMEOUT_S,
    GitError,
    GitPathNotFoundError,
    git_env,
    run_git,
)

# git loads a blob below core.bigFileThreshold (512 MiB by default) whole into memory before
# archiving it; above the threshold it streams. Weights files are always streamed.
_STREAM_ABOVE = "4m"


def tree_size(git_dir: Path, sha: str, rel: str, location: str) -> int:
    """Sum of the blob sizes under ``rel`` at ``sha`` (one ``git ls-tree -r -l``)."""
    out = run_git(git_dir, ["ls-tree", "-r", "-l", "-z", sha, "--", rel], where=location).stdout
    total = 0
    for entry in out.split(b"\0"):
        fields = entry.partition(b"\t")[0].split()
        if len(fields) == 4 and fields[1] == b"blob" and fields[3].isdigit():
            total += int(fields[3])
    return total


def _extract(stream: tarfile.TarFile, dest: Path, limit: int | None) -> None:
    written = 0
    for member in stream:
        # The "data" filter refuses absolute names, links leaving dest and special files.
        safe = tarfile.data_filter(member, str(dest))
        if not safe.isreg():
            stream.extract(safe, dest, filter="data")
            continue
        data = stream.extractfile(member)
        if data is None:
            raise tarfile.TarError(f"{member.name}: no data for a regular file")
        target = dest / safe.name
        target.parent.mkdir(parents=True, exist_ok=True)
        left = None if limit is None else limit - written
        written += copy_stream(data, target, limit=left)
        # mtime stays "now" (ns): a stat-keyed digest cache must never mistake a new export
        # that reuses an inode for the old one, which a commit-time mtime would allow.
        os.chmod(target, safe.mode if safe.mode is not None else 0o644)


def export_tree(
    git_dir: Path,
    sha: str,
    path: str,
    dest: Path,
    location: str,
    *,
    max_bytes: int | None = None,
    timeout: float = LOCAL_TIMEOUT_S,
) -> Path:
    """Write ``path`` (a file or directory) as it is at ``sha`` under ``dest``.

    Args:
        git_dir: the repository (work tree or bare clone) git runs in.
        sha: the commit.
        path: repository-relative path.
        dest: the directory to write under.
        location: how to name the repository in errors.
        max_bytes: refuse when the files under ``path`` add up to more (``None``: no limit).
        timeout: seconds git may take to exit once its output has been read.

    Returns:
        ``dest / path``.

    Raises:
        GitPathNotFoundError: ``path`` does not exist at ``sha``.
        ArtifactTooLargeError: the tree is larger than ``max_bytes`` (nothing is written).
        GitError: git failed or the archive holds something unsafe.
    """
    rel = normalise_path(path)
    listing = run_git(git_dir, ["ls-tree", "--name-only", sha, "--", rel], where=location).stdout
    if not listing.strip():
        raise GitPathNotFoundError(f"{location}: {rel} at {sha[:12]}: no such file")
    check_artifact_size(tree_size(git_dir, sha, rel, location), max_bytes, f"{rel} at {sha[:12]}")
    dest.mkdir(parents=True, exist_ok=True)
    cmd = ["git", "--no-pager", "-C", str(git_dir), "-c", f"core.bigFileThreshold={_STREAM_ABOVE}"]
    cmd += ["archive", "--format=tar", sha, "--", rel]
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, env=git_env()
        )
        try:
            assert proc.stdout is not None
            with tarfile.open(fileobj=proc.stdout, mode="r|", bufsize=CHUNK_SIZE) as stream:
                _extract(stream, dest, max_bytes)
            code = proc.wait(timeout=timeout)
        except (tarfile.TarError, OSError) as exc:
            raise GitError(f"{location}: cannot export {rel} at {sha[:12]}: {exc}") from exc
        except subprocess.TimeoutExpired as exc:
            raise GitError(f"{location}: `git archive {rel}` did not exit") from exc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if code != 0:
            errors.seek(0)
            err = errors.read().decode("utf-8", "replace").strip() or "(no output on stderr)"
            raise GitError(f"{location}: `git archive {rel}` failed (exit {code}): {err}")
    return dest / rel
