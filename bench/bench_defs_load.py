"""Loading the Definitions with 10,000 registered model partitions vs none.

Loading the code location must not read the models repo nor enumerate partitions. Each sample is
a fresh interpreter that imports ``definitions``, builds the Definitions with the instance at
DAGSTER_HOME and validates them (what ``dagster dev`` does on every code reload). Prints both
medians and the ratio (target <= 1.2x).

    .venv/bin/python bench/bench_defs_load.py [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOAD = (
    "import dagster as dg, definitions;"
    "inst = dg.DagsterInstance.get();"
    "d = definitions.defs();"
    "dg.Definitions.validate_loadable(d);"
    "d.get_repository_def().get_all_jobs()"
)


def make_home(path: Path, n_partitions: int) -> Path:
    path.mkdir(parents=True)
    (path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    if n_partitions:
        code = (
            "import dagster as dg;"
            "inst = dg.DagsterInstance.get();"
            "import sys;"
            "keys = [f'model-{i:05d}' for i in range(int(sys.argv[1]))];"
            "inst.add_dynamic_partitions('models', keys)"
        )
        subprocess.run(
            [sys.executable, "-c", code, str(n_partitions)],
            check=True,
            cwd=ROOT,
            env={**os.environ, "DAGSTER_HOME": str(path)},
        )
    return path


def time_load(home: Path, repeat: int) -> float:
    env = {**os.environ, "DAGSTER_HOME": str(home), "LLM_PLATFORM_HOME": str(home / "llm")}
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-W", "ignore", "-c", LOAD],
            check=True,
            cwd=ROOT,
            env=env,
            capture_output=True,
        )
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 samples each instead of 7")
    ap.add_argument("--repeat", type=int, default=None)
    args = ap.parse_args()
    repeat = args.repeat or (3 if args.quick else 7)
    with tempfile.TemporaryDirectory() as tmp:
        empty = make_home(Path(tmp) / "empty", 0)
        full = make_home(Path(tmp) / "full", 10_000)
        t_empty = time_load(empty, repeat)
        t_full = time_load(full, repeat)
    print(f"load Definitions, no partitions:      {t_empty:6.2f} s (median of {repeat})")
    print(f"load Definitions, 10,000 partitions:  {t_full:6.2f} s (median of {repeat})")
    print(f"ratio 10k / none: {t_full / t_empty:.2f}x (target <= 1.2x)")


if __name__ == "__main__":
    main()
