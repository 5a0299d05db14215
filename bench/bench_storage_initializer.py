"""Benchmark: KServe's verifying storage initializer vs an unverified copy of the same files.

Usage: ``.venv/bin/python bench/bench_storage_initializer.py [--quick] [--size-mb N]``

An artifact (one large weights file + a config) is registered into a ``LocalDirStore``; then
(a) baseline: ``cp -r`` of its ``files/`` prefix into an empty directory (what an initializer
    that only downloads does, minus the network), and ``cp -r`` + ``sha256sum`` of the copies
    (the least any verifying initializer does);
(b) ours: ``python -m llm_platform.targets.kubernetes.storage_initializer URI DEST`` (a process, as
    KServe runs it: interpreter start, fetch into staging on DEST's volume, digest check, rename
    into DEST).
Best of ``--reps`` runs each, page cache warm. Prints all three, the ratios of ours to both
baselines and our process's peak RSS (KServe's default storage-initializer memory limit is
1 GiB).
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _artifacts import META, make_file, size_arguments

from llm_platform.artifact_store import LocalDirStore, ModelRegistry
from llm_platform.common.digest import digest_directory
from llm_platform.targets.kubernetes.storage_initializer import MODULE


def main() -> None:
    args = size_arguments(__doc__.splitlines()[0])
    size_mb = args.size_mb

    work = Path(tempfile.mkdtemp(prefix="bench-storage-init-", dir=args.dir))
    try:
        src = work / "model"
        src.mkdir()
        make_file(src / "model.safetensors", size_mb)
        (src / "config.json").write_text('{"bench": true}')
        store = work / "store"
        record = (
            ModelRegistry(LocalDirStore(store))
            .register(src, name="bench", version="1.0.0", **META)
            .record
        )
        files = store / "bench" / "1.0.0" / record.digest / "files"

        t_copy, t_sum, t_ours = float("inf"), float("inf"), float("inf")
        for rep in range(args.reps):
            dest = work / f"copy-{rep}"
            start = time.perf_counter()
            subprocess.run(["cp", "-r", str(files), str(dest)], check=True)
            t_copy = min(t_copy, time.perf_counter() - start)
            copies = sorted(str(p) for p in dest.iterdir())
            subprocess.run(["sha256sum", *copies], check=True, capture_output=True)
            t_sum = min(t_sum, time.perf_counter() - start)
            shutil.rmtree(dest)

            dest = work / f"mnt-models-{rep}"
            dest.mkdir()
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", MODULE, record.artifact_uri, str(dest)],
                check=True,
                capture_output=True,
            )
            t_ours = min(t_ours, time.perf_counter() - start)
            assert digest_directory(dest).digest == record.digest
            shutil.rmtree(dest)
        rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

        print(f"artifact: {size_mb} MB in {work}; best of {args.reps} runs")
        print(f"(a) cp -r (unverified)              {t_copy:7.3f} s  {size_mb / t_copy:8.0f} MB/s")
        print(f"(b) storage_initializer (verified)  {t_ours:7.3f} s  {size_mb / t_ours:8.0f} MB/s")
        print(f"    cp -r + sha256sum               {t_sum:7.3f} s  {size_mb / t_sum:8.0f} MB/s")
        print(f"    ratio ours / cp -r              = {t_ours / t_copy:.2f}x")
        print(f"    ratio ours / (cp -r + sha256sum) = {t_ours / t_sum:.2f}x")
        print(f"    peak RSS of a child process {rss_mb:.0f} MB (KServe's default limit: 1024 MB)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
