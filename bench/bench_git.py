"""Benchmark: change detection cost vs repository size, vs a bare git diff, vs GitPython.

Builds two models repos with ``git fast-import`` (100 and 10,000 models; ``--quick``: 1,000),
commits a change touching 3 models, then times ``GitRepo.changes(prev, head).affected`` (the
sensor's per-push work), a bare ``git diff --name-only prev head`` (the baseline), GitPython's
``Commit.diff`` for the same two commits against our own CLI diff
(``GitRepo.diff_entries``), and ``GitRepo.models_at`` (a full listing, needed only
on full rescans).

Run: ``.venv/bin/python bench/bench_git.py [--quick] [--repeat N]``
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _timing import sized_args

from llm_platform.gitops import GitRepo

IDENT = b"Bench <bench@example.invalid> 1700000000 +0000"


def _blob(data: bytes) -> bytes:
    return b"data %d\n%s\n" % (len(data), data)


def build_repo(path: Path, n_models: int) -> tuple[str, str]:
    """Create a repo with ``n_models`` models in one commit, then a commit touching 3 of them."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    parts: list[bytes] = [b"commit refs/heads/main\nmark :1\n", b"committer " + IDENT + b"\n"]
    parts.append(_blob(b"seed"))
    for env in ("staging", "production"):
        parts.append(b"M 100644 inline config/%s.yaml\n" % env.encode())
        parts.append(_blob(b"environment: %s\n" % env.encode()))
    for i in range(n_models):
        name = b"model-%05d" % i
        parts.append(b"M 100644 inline models/%s/model.yaml\n" % name)
        parts.append(_blob(b"name: %s\nversion: 1.0.0\n" % name))
        parts.append(b"M 100644 inline models/%s/README.md\n" % name)
        parts.append(_blob(b"# %s\n" % name))
    parts.append(b"\ncommit refs/heads/main\nmark :2\n")
    parts.append(b"committer " + IDENT + b"\n" + _blob(b"touch 3 models") + b"from :1\n")
    for i in (1, n_models // 2, n_models - 1):
        name = b"model-%05d" % i
        parts.append(b"M 100644 inline models/%s/model.yaml\n" % name)
        parts.append(_blob(b"name: %s\nversion: 1.1.0\n" % name))
    parts.append(b"\n")
    subprocess.run(
        ["git", "-C", str(path), "fast-import", "--quiet"], input=b"".join(parts), check=True
    )
    # Clones and fetches arrive packed; fast-import's pack is not (git-fast-import(1) advises
    # a repack), so leaving it would time delta resolution rather than the diff.
    subprocess.run(["git", "-C", str(path), "repack", "-a", "-d", "-q"], check=True)
    rev = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "main~1", "main"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return rev[0], rev[1]


def make_timers(path: Path, n_models: int) -> dict[str, Callable[[], object]]:
    """Build the repo and return the operations to time, by name."""
    prev, head = build_repo(path, n_models)
    repo = GitRepo(str(path))

    def ours() -> None:
        cs = repo.changes(prev, head)
        assert cs.affected == cs.modified and len(cs.modified) == 3, cs

    def bare_diff() -> None:
        subprocess.run(
            ["git", "-C", str(path), "diff", "--name-only", prev, head],
            check=True,
            capture_output=True,
        )

    timers: dict[str, Callable[[], object]] = {
        "ours": ours,
        "bare": bare_diff,
        "cli_diff": lambda: repo.diff_entries(prev, head),
        "models_at": lambda: repo.models_at(head),
    }
    try:
        import git as gitpython
    except ImportError:
        return timers
    gp_repo = gitpython.Repo(str(path))

    def gitpython_diff() -> None:
        diffs = gp_repo.commit(prev).diff(head, R=False)
        assert len(diffs) == 3

    timers["gitpython"] = gitpython_diff
    return timers


def run_interleaved(
    suites: list[dict[str, Callable[[], object]]], repeat: int
) -> list[dict[str, list[float]]]:
    """Milliseconds per run of each operation; rounds interleave every operation of every suite
    so load from other processes on the machine hits all of them alike."""
    samples: list[dict[str, list[float]]] = [{k: [] for k in suite} for suite in suites]
    for suite in suites:
        for fn in suite.values():
            fn()  # warm-up (page cache, lazy imports)
    for _ in range(repeat):
        for suite, out in zip(suites, samples, strict=True):
            for key, fn in suite.items():
                start = time.perf_counter()
                fn()
                out[key].append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    args = sized_args(__doc__, quick="1,000 instead of 10,000 models", repeat=30)
    big = 1_000 if args.quick else 10_000
    with tempfile.TemporaryDirectory(prefix="bench-git-") as tmp:
        suites = [make_timers(Path(tmp) / "small", 100), make_timers(Path(tmp) / "big", big)]
        small_r, big_r = run_interleaved(suites, args.repeat)
    print(f"median (min) ms over {args.repeat} interleaved rounds")
    print(f"{'':24}{'100 models':>18}{f'{big:,} models':>20}")
    for key, label in [
        ("ours", "GitRepo.changes"),
        ("bare", "git diff --name-only"),
        ("cli_diff", "GitRepo.diff_entries"),
        ("gitpython", "GitPython Commit.diff"),
        ("models_at", "models_at (full list)"),
    ]:
        if key in small_r:
            cells = [
                f"{statistics.median(r[key]):.2f} ({min(r[key]):.2f})" for r in (small_r, big_r)
            ]
            print(f"{label:24}{cells[0]:>18}{cells[1]:>20}")
    for stat_name, stat in (("median", statistics.median), ("min", min)):
        sm = {k: stat(v) for k, v in small_r.items()}
        bg = {k: stat(v) for k, v in big_r.items()}
        print(f"\nratios on the {stat_name}:")
        print(f"  changes() {big:,}/100: {bg['ours'] / sm['ours']:.2f}x (target <= 1.5x)")
        print(
            f"  bare git diff {big:,}/100: {bg['bare'] / sm['bare']:.2f}x (git compares the two"
            " models/ trees entry by entry: the floor for any git-based diff)"
        )
        print(
            f"  changes()/bare git diff: {sm['ours'] / sm['bare']:.2f}x at 100, "
            f"{bg['ours'] / bg['bare']:.2f}x at {big:,}"
        )
        if "gitpython" in bg:
            print(
                f"  CLI diff (diff_entries)/GitPython Commit.diff: "
                f"{sm['cli_diff'] / sm['gitpython']:.2f}x at 100, "
                f"{bg['cli_diff'] / bg['gitpython']:.2f}x at {big:,} (< 1: the CLI is faster)"
            )


if __name__ == "__main__":
    main()
