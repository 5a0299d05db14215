"""Helpers for benchmarks that time a function: repeated wall times and the sized command line."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable


def wall_times(fn: Callable[[], object], repeat: int) -> list[float]:
    """Wall seconds of each of ``repeat`` calls of ``fn``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median_s(fn: Callable[[], object], repeat: int) -> float:
    """Median wall seconds of ``repeat`` calls of ``fn``."""
    return statistics.median(wall_times(fn, repeat))


def best_s(fn: Callable[[], object], repeat: int) -> float:
    """Fastest wall seconds of ``repeat`` calls of ``fn``."""
    return min(wall_times(fn, repeat))


def sized_args(
    doc: str, *, quick: str, repeat: int, repeat_help: str | None = None
) -> argparse.Namespace:
    """The command line of a benchmark with a smaller size (``--quick``, described by ``quick``)
    and a number of timed runs (``--repeat``, default ``repeat``)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--repeat", type=int, default=repeat, help=repeat_help)
    return parser.parse_args()
