"""Benchmark: the repository secret scan vs reading the same files.

Builds a models repo of N models (``model.yaml``, ``README.md``, a 4 KiB ``config.json`` and a
sparse 16 MiB weights file each; ``--quick``: 30 models, else 300), commits it, then times
reading every file (the baseline: the I/O any scan pays), ``scan_directory`` (``scan --repo``),
``scan_commit`` of the whole commit (``scan --repo --commit``) and ``scan_model_commit`` of one
model (the ``repository_scan`` registration check's work).

Run: ``.venv/bin/python bench/bench_repo_scan.py [--quick] [--repeat N]``
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from _timing import median_s, sized_args

from llm_platform.config.schema import Source
from llm_platform.gitops import GitRepo
from llm_platform.security.repo_scan import scan_commit, scan_directory, scan_model_commit

_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    "PATH": "/usr/bin:/bin",
}


def build_repo(root: Path, n_models: int) -> None:
    """Write and commit ``n_models`` models with configs and sparse weights."""
    for i in range(n_models):
        model = root / "models" / f"model-{i:04d}"
        model.mkdir(parents=True)
        (model / "model.yaml").write_text(f"name: model-{i:04d}\nversion: 1.0.0\n")
        (model / "README.md").write_text(f"# model {i}\n" + "Some prose about it.\n" * 20)
        config = {"layers": 12, "vocab": 32000, "notes": ["x" * 60] * 60, "digest": f"{i:064x}"}
        (model / "config.json").write_text(json.dumps(config, indent=1))
        with (model / "weights.safetensors").open("wb") as handle:
            handle.truncate(16 * 1024 * 1024)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "models"]):
        subprocess.run(["git", "-C", str(root), *args], check=True, env=_ENV)


def _read_all(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file() and ".git" not in path.parts and path.stat().st_size < 8 << 20:
            path.read_bytes()


def main() -> None:
    """Build the repo, time each scan, print seconds and the ratio to the baseline read."""
    args = sized_args(__doc__, quick="30 models instead of 300", repeat=3)
    n_models = 30 if args.quick else 300
    with tempfile.TemporaryDirectory(prefix="bench-repo-scan-") as tmp:
        root = Path(tmp)
        build_repo(root, n_models)
        repo = GitRepo(str(root))
        source = Source(type="local", uri="models/model-0001")
        base = median_s(lambda: _read_all(root), args.repeat)
        rows = {
            "read every file (baseline)": base,
            "scan_directory (scan --repo)": median_s(lambda: scan_directory(root), args.repeat),
            "scan_commit, whole commit": median_s(lambda: scan_commit(repo, "main"), args.repeat),
            "scan_model_commit, one model": median_s(
                lambda: scan_model_commit(repo, "main", "model-0001", source), args.repeat
            ),
        }
        print(f"{n_models} models, {3 * n_models} text files, {n_models} sparse 16 MiB weights")
        for name, seconds in rows.items():
            print(f"{name:32} {seconds * 1000:9.1f} ms  {seconds / base:8.1f}x baseline")


if __name__ == "__main__":
    main()
