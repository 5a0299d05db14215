"""Many files from git in one process: ``git cat-file --batch`` for a fleet of model configs.

:meth:`llm_platform.gitops.GitRepo.read_file` costs one git process per file; a re-check of a
thousand models needs a thousand ``model.yaml`` files, so this reads them in one. Anything that
is not a plain blob after following symlinks (a link out of the tree, a missing path, a commit
not fetched yet) is read again with ``read_file``, which fetches, resolves what git did not and
raises the precise error.
"""

from __future__ import annotations

from llm_platform.gitops.repo import GitRepo
from llm_platform.gitops.runner import GitError, run_git


def read_files(repo: GitRepo, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], bytes]:
    """Contents of each ``(commit, path)``.

    Raises:
        GitError: as :meth:`GitRepo.read_file`, for the first file that cannot be read.
    """
    unique = list(dict.fromkeys(wanted))
    if not unique:
        return {}
    if any("\n" in c or "\n" in p for c, p in unique):
        raise GitError("a commit or path contains a line break")
    request = "".join(f"{c}:{p}\n" for c, p in unique).encode("utf-8", "surrogateescape")
    args = ["cat-file", "--batch", "--follow-symlinks"]
    out = run_git(repo.git_dir, args, stdin=request, where=repo.location)
    data, pos, found = out.stdout, 0, {}
    for key in unique:
        end = data.index(b"\n", pos)
        words = data[pos:end].decode("utf-8", "replace").split(" ")
        pos = end + 1
        if len(words) == 3 and words[1] == "blob":
            size = int(words[2])
            found[key] = data[pos : pos + size]
            pos += size + 1
        elif words[-1] != "missing":  # another type, or a link git did not resolve: skip it
            pos += int(words[-1]) + 1
    return {key: found[key] if key in found else repo.read_file(*key) for key in unique}
