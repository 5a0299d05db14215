"""Sensor tick cost after a push touching 3 models, in repos of 100 and 10,000 models.

Prints the tick time per repo size, the 10k/100 ratio (target <= 1.5x: the tick must not grow
with the size of the repo) and the ratio against a bare ``git diff --name-only`` of the same range
measured in the same run.

    .venv/bin/python bench/bench_sensor.py [--quick] [--repeat N]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import dagster as dg  # noqa: E402
from _repo import build_repo, git, touch_models  # noqa: E402
from _timing import median_s, sized_args  # noqa: E402

from definitions import build_defs  # noqa: E402
from llm_platform.settings import Settings  # noqa: E402
from sensors.git_push import git_push_sensor  # noqa: E402
from tests.helpers.sensor_fixtures import sensor_tick  # noqa: E402


def measure(root: Path, n: int, repeat: int) -> tuple[float, float]:
    repo = build_repo(root / f"repo-{n}", n)
    base = git(repo, "rev-parse", "HEAD")
    head = touch_models(repo, [f"model-{i:05d}" for i in (1, n // 2, n - 1)], "1.0.1")
    defs = build_defs(
        Settings.from_env(
            {"LLM_PLATFORM_MODELS_REPO": str(repo), "LLM_PLATFORM_HOME": str(root / f"home-{n}")}
        )
    )
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("models", [f"model-{i:05d}" for i in range(n)])

        def tick() -> None:
            result = sensor_tick(git_push_sensor, defs, instance, base)
            assert len(result.run_requests) == 3, result.run_requests

        tick()  # warm-up
        t_tick = median_s(tick, repeat)

    def bare() -> None:
        subprocess.run(
            ["git", "-C", str(repo), "diff", "--name-only", base, head],
            check=True,
            capture_output=True,
        )

    t_bare = median_s(bare, repeat)
    return t_tick, t_bare


def main() -> None:
    args = sized_args(__doc__, quick="1,000 instead of 10,000 models", repeat=7)
    big = 1_000 if args.quick else 10_000
    with tempfile.TemporaryDirectory() as tmp:
        small_tick, small_bare = measure(Path(tmp), 100, args.repeat)
        big_tick, big_bare = measure(Path(tmp), big, args.repeat)
    print(
        f"repo of   100 models: tick {small_tick * 1000:7.1f} ms, "
        f"bare git diff {small_bare * 1000:6.1f} ms"
    )
    print(
        f"repo of {big:5d} models: tick {big_tick * 1000:7.1f} ms, "
        f"bare git diff {big_bare * 1000:6.1f} ms"
    )
    print(f"ratio tick {big}/100 models: {big_tick / small_tick:.2f}x (target <= 1.5x)")
    print(f"ratio tick / bare git diff ({big} models): {big_tick / big_bare:.1f}x")


if __name__ == "__main__":
    main()
