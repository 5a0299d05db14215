"""Benchmark: peak memory and disk of registering a large sparse weights file vs a tiny one.

Usage: ``.venv/bin/python bench/bench_register_memory.py [--quick] [--size-mb N]``

A real models repo (git) holds ``weights/small`` (a 4 KiB safetensors) and ``weights/big`` (a
safetensors file of N MiB -- 2048 by default, 256 with ``--quick`` -- whose data is a hole:
the "2 GB sparse weights file" of the abuse probe). Each registration runs in a fresh child
process doing what the ``registered_model`` asset does: stream the path out of the commit into
scratch space under the pipeline root, run the kfp.local pipeline (fetch + hash -> scan ->
store), re-hash the stored copy. Reported per registration:

- peak RSS of the orchestrator process (``ru_maxrss``) and of its largest child process
  (the kfp.local task subprocesses and ``git archive``);
- disk allocated in the artifact store and left under the pipeline root afterwards.

The baseline is the tiny registration, measured in the same run; the ratio big/tiny of the
orchestrator's peak RSS says whether memory scales with artifact size (flat is ~1.0; before
streaming, the export alone held the whole ``git archive`` output twice).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def safetensors_header(data_bytes: int) -> bytes:
    """A valid safetensors header for one F32 tensor of ``data_bytes`` bytes."""
    meta = {"w": {"dtype": "F32", "shape": [data_bytes // 4], "data_offsets": [0, data_bytes]}}
    raw = json.dumps(meta).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw


def write_weights(path: Path, data_bytes: int, *, sparse: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(safetensors_header(data_bytes))
        if sparse:
            f.truncate(f.tell() + data_bytes)
        else:
            f.write(os.urandom(data_bytes))


def build_repo(root: Path, big_mb: int) -> Path:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.invalid",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    }
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True, env=env)
    write_weights(root / "weights" / "small" / "model.safetensors", 4096, sparse=False)
    write_weights(root / "weights" / "big" / "model.safetensors", big_mb << 20, sparse=True)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(root), "commit", "-qm", "weights"], check=True, env=env)
    return root


def allocated(root: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in root.rglob("*") if p.is_file())


def child(repo: str, path: str, work: str) -> None:
    """One registration, as the asset does it; prints a JSON line of measurements."""
    from llm_platform.config import ModelConfig
    from llm_platform.gitops import GitRepo
    from llm_platform.registration import LocalKfpRegistrar
    from llm_platform.registration.registrars import SCRATCH_DIR

    work_dir = Path(work)
    name = Path(path).name
    config = ModelConfig.model_validate(
        {
            "name": name,
            "version": "1.0.0",
            "architecture": "llama",
            "resources": {"memory_gb": 8, "gpu_count": 1, "gpu_type": "nvidia-tesla-t4"},
            "source": {"type": "local", "uri": path},
        }
    )
    git_repo = GitRepo(repo)
    sha = git_repo.head()
    registrar = LocalKfpRegistrar(work_dir / "kfp", str(work_dir / "store"))
    rss_ready = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    scratch_root = work_dir / "kfp" / SCRATCH_DIR
    scratch_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch_root) as tmp:
        git_repo.export(sha, path, Path(tmp))
        result = registrar.register(
            config=config, models_repo_dir=Path(tmp), commit_sha=sha, run_id=f"bench-{name}"
        )
    problems = registrar.registry.verify_problems(result.record)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "name": name,
                "size": result.record.total_size,
                "seconds": seconds,
                "rss_ready_kb": rss_ready,
                "rss_peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "child_peak_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                "store_allocated": allocated(work_dir / "store"),
                "pipeline_root_left": allocated(work_dir / "kfp"),
                "intact": not problems,
            }
        )
    )


def measure(repo: Path, path: str, work: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(repo), path, str(work)],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="256 MiB instead of 2 GiB")
    parser.add_argument("--size-mb", type=int, default=None, help="size of the big artifact")
    parser.add_argument(
        "--child", nargs=3, metavar=("REPO", "PATH", "WORK"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    big_mb = args.size_mb or (256 if args.quick else 2048)
    with tempfile.TemporaryDirectory(prefix="bench-register-memory-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        repo = build_repo(root / "repo", big_mb)
        print(
            f"models repo with a {big_mb} MiB sparse safetensors: {time.perf_counter() - t0:.1f}s"
        )
        small = measure(repo, "weights/small", root / "small")
        big = measure(repo, "weights/big", root / "big")
    mib = 1024.0
    print(
        f"{'registration':<14}{'size MiB':>10}{'seconds':>9}{'peak RSS MiB':>14}"
        f"{'child peak MiB':>16}{'store disk MiB':>16}{'left in kfp root':>18}"
    )
    for label, m in (("tiny (base)", small), (f"sparse {big_mb}M", big)):
        print(
            f"{label:<14}{m['size'] / 2**20:>10.1f}{m['seconds']:>9.1f}"
            f"{m['rss_peak_kb'] / mib:>14.1f}{m['child_peak_kb'] / mib:>16.1f}"
            f"{m['store_allocated'] / 2**20:>16.1f}{m['pipeline_root_left'] / 2**20:>18.1f}"
        )
    ratio = big["rss_peak_kb"] / small["rss_peak_kb"]
    child_ratio = big["child_peak_kb"] / small["child_peak_kb"]
    grew = (big["rss_peak_kb"] - small["rss_peak_kb"]) / mib
    print(
        f"peak RSS ratio sparse {big_mb} MiB / tiny: {ratio:.2f}x orchestrator "
        f"(+{grew:.1f} MiB), {child_ratio:.2f}x largest child; "
        f"stored copy intact: {bool(big['intact'])}"
    )
    if not (big["intact"] and small["intact"]):
        raise SystemExit("stored artifact does not re-hash to its record")


if __name__ == "__main__":
    main()
