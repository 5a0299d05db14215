"""Running the git CLI: one place for the environment, timeouts and error reporting."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from llm_platform.common.errors import PlatformError

#: Seconds allowed for a local git command (reading objects, diffing trees).
LOCAL_TIMEOUT_S = 60.0
#: Seconds allowed for a network operation (initial clone / fetch of a remote).
FETCH_TIMEOUT_S = 600.0

# Variables that would redirect our commands to another repository, index or work tree.
_REDIRECTING_VARS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_COMMON_DIR",
    "GIT_PREFIX",
)
_SHA_RE = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_BAD_REV_RE = re.compile(r"[\s\x00-\x1f\x7f~^:?*\[\\]|\.\.|@\{|^-|^$")


class GitError(PlatformError):
    """A git operation failed; the message names the repository, the command and git's stderr."""


class GitPathNotFoundError(GitError):
    """A path does not exist at a commit (or is a symlink whose target does not)."""


def git_env() -> dict[str, str]:
    """The environment for git subprocesses: never prompt, never take optional locks."""
    env = {k: v for k, v in os.environ.items() if k not in _REDIRECTING_VARS}
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GIT_OPTIONAL_LOCKS"] = "0"
    env["LC_ALL"] = "C"
    env.setdefault("GCM_INTERACTIVE", "never")
    if "GIT_SSH_COMMAND" not in env and "GIT_SSH" not in env:
        # A sensor must fail fast instead of waiting for a password or host-key prompt.
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"
    return env


def run_git(
    repo_dir: Path | None,
    args: list[str],
    *,
    stdin: bytes | None = None,
    timeout: float = LOCAL_TIMEOUT_S,
    ok_codes: tuple[int, ...] = (0,),
    where: str | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git [-C repo_dir] ARGS`` and return the completed process.

    Args:
        repo_dir: Directory to run in (``git -C``); None for commands that take no repository.
        args: Git arguments after the global options.
        stdin: Bytes fed to the command's standard input.
        timeout: Seconds before the command is killed.
        ok_codes: Exit codes that count as success (the caller inspects ``returncode``).
        where: How to name the repository in error messages (defaults to ``repo_dir``).

    Returns:
        The completed process with ``stdout`` and ``stderr`` as bytes.

    Raises:
        GitError: git is missing, timed out, or exited with a code outside ``ok_codes``.
    """
    cmd = ["git", "--no-pager"]
    if repo_dir is not None:
        cmd += ["-C", str(repo_dir)]
    cmd += args
    name = where or (str(repo_dir) if repo_dir is not None else "git")
    shown = " ".join(args[:6]) + (" ..." if len(args) > 6 else "")
    try:
        proc = subprocess.run(
            cmd,
            input=stdin,
            capture_output=True,
            timeout=timeout,
            env=git_env(),
            check=False,
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )
    except FileNotFoundError as exc:
        raise GitError("the git executable was not found on PATH") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"{name}: `git {shown}` timed out after {timeout:.0f}s") from exc
    if proc.returncode not in ok_codes:
        err = proc.stderr.decode("utf-8", "replace").strip() or "(no output on stderr)"
        raise GitError(f"{name}: `git {shown}` failed (exit {proc.returncode}): {err}")
    return proc


def run_git_concurrently(
    repo_dir: Path,
    commands: list[tuple[list[str], tuple[int, ...]]],
    *,
    timeout: float = LOCAL_TIMEOUT_S,
    where: str | None = None,
) -> list[subprocess.CompletedProcess[bytes]]:
    """Run independent git commands at the same time; results in the order given.

    Args:
        repo_dir: Directory to run in (``git -C``).
        commands: ``(args, ok_codes)`` per command.
        timeout: Seconds before a command is killed.
        where: How to name the repository in error messages.

    Raises:
        GitError: as :func:`run_git`, for the first command that failed.
    """
    name = where or str(repo_dir)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for args, _ in commands:
            procs.append(
                subprocess.Popen(
                    ["git", "--no-pager", "-C", str(repo_dir), *args],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=git_env(),
                )
            )
        results = []
        for (args, ok_codes), proc in zip(commands, procs, strict=True):
            shown = " ".join(args[:6]) + (" ..." if len(args) > 6 else "")
            try:
                out, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired as exc:
                raise GitError(f"{name}: `git {shown}` timed out after {timeout:.0f}s") from exc
            done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
            if done.returncode not in ok_codes:
                msg = err.decode("utf-8", "replace").strip() or "(no output on stderr)"
                raise GitError(f"{name}: `git {shown}` failed (exit {done.returncode}): {msg}")
            results.append(done)
        return results
    except FileNotFoundError as exc:
        raise GitError("the git executable was not found on PATH") from exc
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def is_full_sha(rev: str) -> bool:
    """True when ``rev`` is a full lowercase SHA-1 or SHA-256 object name."""
    return bool(_SHA_RE.match(rev))


def is_safe_rev(rev: str) -> bool:
    """True when ``rev`` can be passed to git as a revision without being read as an option.

    Accepts object names and plain ref names; refuses option-like strings, whitespace, range and
    revision-suffix syntax (``..``, ``~``, ``^``, ``:``, ``@{``) so a caller's value always means
    one commit.
    """
    return not _BAD_REV_RE.search(rev)


def check_branch_name(branch: str) -> None:
    """Raise GitError unless ``branch`` is a plausible git branch name."""
    if not is_safe_rev(branch) or branch.endswith(("/", ".lock", ".")) or "//" in branch:
        raise GitError(f"invalid branch name {branch!r}")
