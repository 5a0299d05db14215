"""Read-only access to the models repo through git plumbing, and push-level change detection."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from llm_platform.common.repo_layout import DEFAULT_BRANCH, MODEL_FILE, model_config_path
from llm_platform.gitops.changeset import ChangeSet, CommitInfo, parse_name_status
from llm_platform.gitops.detect import detect_changes
from llm_platform.gitops.export import export_tree
from llm_platform.gitops.files import read_blob
from llm_platform.gitops.mirror import (
    cache_path,
    default_cache_root,
    fetch_mirror,
    is_initialised,
    resolve_location,
)
from llm_platform.gitops.runner import (
    GitError,
    check_branch_name,
    is_safe_rev,
    run_git,
    run_git_concurrently,
)

_DIFF_ARGS = [
    "diff",
    "--no-ext-diff",
    "--no-textconv",
    "--no-color",
    "--no-relative",
    "--name-status",
    "-z",
    "-M",
]
# Above this many presence lookups, one ls-tree of models/ is cheaper than per-path lookups.
_BATCH_LOOKUP_LIMIT = 256


class GitRepo:
    """The models repository at ``location``, on ``branch``.

    A local work tree is read in place with plumbing commands (its work tree and index are
    never touched). A URL (``file://``, ``https://``, ssh, scp-like) or a bare repository path is
    mirrored into a bare cache clone under ``cache_dir`` that :meth:`sync` fetches.

    Args:
        location: Local path or git URL of the models repository.
        branch: Branch whose tip is the deployed state.
        cache_dir: Root of cache clones (default ``~/.cache/llm-platform/git``).

    Raises:
        GitError: the branch name is invalid or a local location is not a git repository.
    """

    def __init__(
        self, location: str, *, branch: str = DEFAULT_BRANCH, cache_dir: Path | None = None
    ):
        check_branch_name(branch)
        self.location = location
        self.branch = branch
        local, url = resolve_location(location)
        self._url = url
        if local is not None:
            self._dir = local
        else:
            assert url is not None
            self._dir = cache_path(url, Path(cache_dir) if cache_dir else default_cache_root())

    @property
    def is_remote(self) -> bool:
        """True when the repository is mirrored into a cache clone."""
        return self._url is not None

    @property
    def git_dir(self) -> Path:
        """The directory git commands run in (the work tree, or the cache clone)."""
        return self._dir

    def _run(
        self, args: list[str], *, stdin: bytes | None = None, ok_codes: tuple[int, ...] = (0,)
    ) -> subprocess.CompletedProcess[bytes]:
        if self._url is not None and not is_initialised(self._dir):
            raise GitError(f"{self.location} has not been fetched yet: call sync() first")
        return run_git(self._dir, args, stdin=stdin, ok_codes=ok_codes, where=self.location)

    def _git(
        self, args: list[str], *, stdin: bytes | None = None, ok_codes: tuple[int, ...] = (0,)
    ) -> bytes:
        return self._run(args, stdin=stdin, ok_codes=ok_codes).stdout

    def sync(self) -> None:
        """Fetch the remote into the cache clone (prune, force); a no-op for a local work tree.

        Raises:
            GitError: the fetch failed (git's stderr is in the message).
        """
        if self._url is not None:
            fetch_mirror(self._dir, self._url)

    def head(self) -> str:
        """SHA of the tip of the configured branch.

        Raises:
            GitError: the branch does not exist (the message names it and the location).
        """
        ref = f"refs/heads/{self.branch}"
        out = self._git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], ok_codes=(0, 1))
        sha = out.decode("ascii", "replace").strip()
        if not sha:
            names = self._git(["for-each-ref", "--format=%(refname:short)", "refs/heads/"])
            have = ", ".join(names.decode("utf-8", "replace").split()) or "none"
            raise GitError(
                f"branch {self.branch!r} not found in {self.location} (branches: {have})"
            )
        return sha

    def resolve(self, commit: str) -> str:
        """Full SHA of ``commit`` (a SHA or branch name).

        Raises:
            GitError: the commit is unknown.
        """
        if not is_safe_rev(commit):
            raise GitError(f"{self.location}: invalid commit {commit!r}")
        out = self._git(
            ["rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"], ok_codes=(0, 1)
        )
        sha = out.decode("ascii", "replace").strip()
        if not sha:
            raise GitError(f"commit {commit} not found in {self.location}")
        return sha

    def _exists(self, commit: str) -> bool:
        if not is_safe_rev(commit):
            return False
        out = self._git(["cat-file", "--batch-check"], stdin=f"{commit}^{{commit}}\n".encode())
        return not out.rstrip().endswith(b" missing")

    def _sync_for(self, commit: str) -> bool:
        """Fetch once when a remote mirror lacks ``commit``; True when it is there afterwards."""
        if self._url is None or (is_initialised(self._dir) and self._exists(commit)):
            return False
        self.sync()
        return self._exists(commit)

    def models_at(self, commit: str) -> set[str]:
        """Names of the directories under ``models/`` that contain ``model.yaml`` at ``commit``.

        Raises:
            GitError: the commit is unknown.
        """
        sha = self._resolve_fetching(commit)
        out = self._git(["ls-tree", "-r", "-z", sha, "--", "models/"])
        names: set[str] = set()
        for entry in out.split(b"\0"):
            meta, _, raw_path = entry.partition(b"\t")
            parts = raw_path.split(b"/")
            if (
                len(parts) == 3
                and parts[2] == MODEL_FILE.encode()
                and meta.split(b" ")[1:2] == [b"blob"]
            ):
                names.add(os.fsdecode(parts[1]))
        return names

    def _resolve_fetching(self, commit: str) -> str:
        try:
            return self.resolve(commit)
        except GitError:
            if self._sync_for(commit):
                return self.resolve(commit)
            raise

    def read_file(self, commit: str, path: str) -> bytes:
        """Contents of ``path`` at ``commit`` (symlinks inside the repository are followed).

        Raises:
            GitPathNotFoundError: the path (or a symlink's target) does not exist at the commit.
            GitError: the commit does not exist, the path is not a file, or is a symlink that
                points outside the repository.
        """
        sha = self._resolve_fetching(commit)
        return read_blob(lambda args, stdin: self._git(args, stdin=stdin), sha, path, self.location)

    def export(self, commit: str, path: str, dest: Path, *, max_bytes: int | None = None) -> Path:
        """Write ``path`` (file or directory) as it is at ``commit`` under ``dest``, streamed.

        Returns:
            ``dest / path``.

        Raises:
            ArtifactTooLargeError: the files add up to more than ``max_bytes``.
        """
        sha = self._resolve_fetching(commit)
        return export_tree(self._dir, sha, path, dest, self.location, max_bytes=max_bytes)

    def commit_info(self, sha: str) -> CommitInfo:
        """Author, subject and committer timestamp of a commit.

        Raises:
            GitError: the commit is unknown.
        """
        full = self._resolve_fetching(sha)
        fmt = "--format=%H%x00%an%x00%ae%x00%ct%x00%s"
        out = self._git(["log", "-1", "--no-color", "--no-show-signature", fmt, full, "--"])
        fields = out.decode("utf-8", "replace").rstrip("\n").split("\0")
        if len(fields) != 5:
            raise GitError(f"{self.location}: unexpected git log output for {full}")
        return CommitInfo(
            sha=fields[0],
            author=fields[1],
            author_email=fields[2],
            timestamp=int(fields[3]),
            subject=fields[4],
        )

    def ancestry(self, a: str, b: str) -> bool | None:
        """``a`` is an ancestor of ``b`` (True/False), or None when either commit is unknown."""
        if not (is_safe_rev(a) and is_safe_rev(b)):
            return None
        proc = self._run(["merge-base", "--is-ancestor", a, b], ok_codes=(0, 1, 128))
        return self._ancestry_result(proc, a, b)

    def _ancestry_result(
        self, proc: subprocess.CompletedProcess[bytes], a: str, b: str
    ) -> bool | None:
        if proc.returncode in (0, 1):
            return proc.returncode == 0
        if self._exists(a) and self._exists(b):
            err = proc.stderr.decode("utf-8", "replace").strip()
            raise GitError(f"{self.location}: git merge-base failed for {a} and {b}: {err}")
        return None

    def ancestry_and_diff(
        self, base: str, head: str
    ) -> tuple[bool | None, list[tuple[str, str, str | None]] | None]:
        """:meth:`ancestry` and :meth:`diff_entries` of ``base`` and ``head``, run concurrently.

        The diff is None when the ancestry is None (a commit is unknown).
        """
        if not (is_safe_rev(base) and is_safe_rev(head)):
            return None, None
        if self._url is not None and not is_initialised(self._dir):
            raise GitError(f"{self.location} has not been fetched yet: call sync() first")
        anc_proc, diff_proc = run_git_concurrently(
            self._dir,
            [
                (["merge-base", "--is-ancestor", base, head], (0, 1, 128)),
                ([*_DIFF_ARGS, base, head], (0, 128)),
            ],
            where=self.location,
        )
        ancestry = self._ancestry_result(anc_proc, base, head)
        if ancestry is None:
            return None, None
        if diff_proc.returncode != 0:
            err = diff_proc.stderr.decode("utf-8", "replace").strip()
            raise GitError(f"{self.location}: git diff {base} {head} failed: {err}")
        return ancestry, parse_name_status(diff_proc.stdout)

    def is_ancestor(self, a: str, b: str) -> bool:
        """True when commit ``a`` is an ancestor of (or equal to) commit ``b``.

        Unknown or garbage-collected commits give False, never an error.
        """
        return self.ancestry(a, b) is True

    def has_models(self, commit: str, names: set[str]) -> dict[str, bool]:
        """Whether each of ``names`` has a ``models/<name>/model.yaml`` file at ``commit``.

        Costs one ``git cat-file --batch-check`` for a few names, one ``ls-tree`` for many.
        """
        if not names:
            return {}
        if len(names) > _BATCH_LOOKUP_LIMIT or any("\n" in n for n in names):
            present = self.models_at(commit)
            return {name: name in present for name in names}
        ordered = sorted(names)
        request = "".join(f"{commit}:{model_config_path(name)}\n" for name in ordered)
        out = self._git(
            ["cat-file", "--batch-check"], stdin=request.encode(errors="surrogateescape")
        )
        lines = out.decode("utf-8", "replace").splitlines()
        if len(lines) != len(ordered):
            raise GitError(f"{self.location}: unexpected git cat-file output for {commit}")
        return {
            name: line.split(" ")[1:2] == ["blob"]
            for name, line in zip(ordered, lines, strict=True)
        }

    def diff_entries(self, base: str, head: str) -> list[tuple[str, str, str | None]]:
        """File-level ``(status, path, new_path)`` changes under the watched directories.

        One ``git diff --name-status -z -M base head`` comparing the two trees directly, so a
        merge commit's changes from both parents are included. No pathspec is passed: git skips
        unchanged subtrees by hash anyway, and a pathspec makes it match every entry of the
        (possibly 10,000-entry) ``models/`` tree, which doubles the cost; other paths are
        ignored by the caller.
        """
        out = self._git([*_DIFF_ARGS, base, head])
        return parse_name_status(out)

    def changes(self, since: str | None, head: str) -> ChangeSet:
        """Models, environments and approvals that changed from ``since`` to ``head``.

        Costs about one ``git diff`` whatever the size of the repository. A missing ``since``
        (first run) or one that is not an ancestor of ``head`` (force-push, rewritten history,
        garbage-collected or unknown commit) gives a full rescan with the reason, never an error.

        Raises:
            GitError: ``head`` is unknown, or git failed.
        """
        return detect_changes(self, since, head)
