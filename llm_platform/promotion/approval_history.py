"""Where approvals came from: the commit that introduced each entry, and its verified signature.

An entry of ``approvals/<model>.yaml`` is introduced "in its current form" by this commit:
walking back from the branch head through the commits that changed the file, the first one
none of whose parents' versions of the file contain the same entry (all fields equal). A later
edit of any field, or a removal and re-adding, therefore makes the editing commit the
introducer; moving or reformatting an unchanged entry does not. Signatures are verified by
git (``%G?``) against the trust root only (:func:`.trust_root.git_verification_options`).

Cost: one ``git rev-list`` of the file's history, two ``cat-file`` batches for its versions and
one ``git log`` for the signatures, whatever the number of entries; only the versions a walk
visits are parsed, and only those that contain the entry's digest at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from llm_platform.common.repo_layout import approvals_path
from llm_platform.config.problems import ConfigError
from llm_platform.gitops import GitRepo
from llm_platform.gitops.runner import run_git
from llm_platform.promotion.approvals import (
    Approval,
    ApprovalEntry,
    CommitSignature,
    entry_of,
    parse_entries,
)
from llm_platform.promotion.trust_root import git_verification_options

_FIELDS = "%H%x00%G?%x00%GS%x00%GF%x00%ae%x1e"
_SSH_FINGERPRINT = "SHA256:"


def _parse_signatures(out: bytes) -> list[CommitSignature]:
    sigs = []
    for record in out.decode("utf-8", "replace").split("\x1e"):
        fields = record.strip("\n").split("\x00")
        if len(fields) != 5:
            continue
        sha, status, signer, fingerprint, author = fields
        # Only an SSH signature (fingerprint SHA256:...) verified against the trust root counts;
        # a GPG signature is judged by a keyring the trust root does not control.
        good = status == "G" and fingerprint.startswith(_SSH_FINGERPRINT) and bool(signer)
        sigs.append(
            CommitSignature(
                commit=sha,
                status=status if good or status != "G" else "E",
                signer=signer if good else None,
                author_email=author,
            )
        )
    return sigs


def signatures(
    repo: GitRepo, commits: Sequence[str], trust_root: Path
) -> dict[str, CommitSignature]:
    """Each commit's author and signature, verified by git against ``trust_root`` only.

    Raises:
        GitError: a commit is unknown or git failed.
    """
    if not commits:
        return {}
    unique = list(dict.fromkeys(commits))
    args = [*git_verification_options(trust_root), "log", "--no-walk=unsorted"]
    out = run_git(repo.git_dir, [*args, f"--format={_FIELDS}", *unique], where=repo.location).stdout
    return {sig.commit: sig for sig in _parse_signatures(out)}


def latest_change(
    repo: GitRepo, head: str, paths: str | Sequence[str], trust_root: Path
) -> CommitSignature | None:
    """The latest commit reachable from ``head`` that changed any of ``paths`` (None: never
    changed), with its signature verified against ``trust_root``.

    Raises:
        GitError: git failed.
    """
    wanted = [paths] if isinstance(paths, str) else list(paths)
    args = [*git_verification_options(trust_root), "log", "-1", f"--format={_FIELDS}", head]
    out = run_git(repo.git_dir, [*args, "--", *wanted], where=repo.location).stdout
    found = _parse_signatures(out)
    return found[0] if found else None


class _Versions:
    """The file's bytes at each commit (one ``cat-file`` batch), parsed only when asked."""

    def __init__(self, repo: GitRepo, commits: Sequence[str], path: str) -> None:
        self.path = path
        query = "".join(f"{c}:{path}\n" for c in commits).encode()
        check = run_git(
            repo.git_dir, ["cat-file", "--batch-check"], stdin=query, where=repo.location
        ).stdout.decode("utf-8", "replace")
        self.blob_of: dict[str, str] = {}
        for commit, line in zip(commits, check.splitlines(), strict=True):
            parts = line.split()
            if len(parts) == 3 and parts[1] == "blob":
                self.blob_of[commit] = parts[0]
        blobs = list(dict.fromkeys(self.blob_of.values()))
        self.data: dict[str, bytes] = {}
        if blobs:
            out = run_git(
                repo.git_dir,
                ["cat-file", "--batch"],
                stdin="".join(f"{b}\n" for b in blobs).encode(),
                where=repo.location,
            ).stdout
            pos = 0
            for blob in blobs:
                header_end = out.index(b"\n", pos)
                size = int(out[pos:header_end].split()[2])
                self.data[blob] = out[header_end + 1 : header_end + 1 + size]
                pos = header_end + 1 + size + 1
        self._parsed: dict[str, frozenset[ApprovalEntry]] = {}

    def same_file(self, a: str, b: str) -> bool:
        return self.blob_of.get(a) == self.blob_of.get(b)

    def has(self, commit: str, entry: ApprovalEntry) -> bool:
        """Whether the file at ``commit`` holds ``entry`` (absent or invalid file: no)."""
        blob = self.blob_of.get(commit)
        if blob is None:
            return False
        data = self.data[blob]
        # Cheap test first: a version without the digest's text cannot hold the entry.
        if entry.digest.encode() not in data.lower():
            return False
        if blob not in self._parsed:
            try:
                self._parsed[blob] = frozenset(parse_entries(data, source=self.path))
            except ConfigError:
                self._parsed[blob] = frozenset()  # an invalid version holds no entry
        return entry in self._parsed[blob]


def introducing_commits(
    repo: GitRepo, head: str, path: str, entries: Sequence[ApprovalEntry]
) -> list[str | None]:
    """For each of ``entries`` (present in ``path`` at ``head``), the commit that introduced it
    in its current form; None when the history cannot be followed (which never approves).

    Raises:
        GitError: git failed.
    """
    if not entries:
        return []
    out = run_git(
        repo.git_dir, ["rev-list", "--parents", head, "--", path], where=repo.location
    ).stdout.decode("ascii", "replace")
    # Parent rewriting: each listed commit changed ``path``; its parents are the nearest such
    # ancestors, so the file at a listed parent is the file at the real parent on that line.
    graph: dict[str, list[str]] = {}
    for line in out.splitlines():
        sha, *parents = line.split()
        graph[sha] = parents
    if not graph:
        return [None for _ in entries]
    versions = _Versions(repo, [head, *graph], path)
    referenced = {p for parents in graph.values() for p in parents}
    tips = [c for c in graph if c not in referenced and versions.same_file(c, head)]
    if head in graph:
        tips = [head]
    if len(tips) != 1:
        return [None for _ in entries]
    result: list[str | None] = []
    for entry in entries:
        node = tips[0]
        if not versions.has(node, entry):
            result.append(None)
            continue
        while True:
            older = next((p for p in graph.get(node, []) if versions.has(p, entry)), None)
            if older is None:
                break
            node = older
        result.append(node)
    return result


def with_provenance(
    repo: GitRepo, head: str, model: str, approvals: Sequence[Approval], trust_root: Path
) -> list[Approval]:
    """``approvals`` (read at ``head``) with ``introduced_by`` filled in.

    Raises:
        GitError: git failed.
    """
    if not approvals:
        return []
    path = approvals_path(model)
    commits = introducing_commits(repo, head, path, [entry_of(a) for a in approvals])
    sigs = signatures(repo, [c for c in commits if c], trust_root)
    return [
        a.model_copy(update={"introduced_by": sigs.get(c) if c else None})
        for a, c in zip(approvals, commits, strict=True)
    ]


__all__ = ["introducing_commits", "latest_change", "signatures", "with_provenance"]
