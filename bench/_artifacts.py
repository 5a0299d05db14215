"""Shared by the artifact benchmarks: registration metadata and large incompressible files."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

#: Registration metadata of a benchmark artifact (no commit, run or scan behind it).
META: dict[str, Any] = dict(
    source_uri="bench",
    commit_sha="0" * 40,
    config_hash="bench",
    kfp_run_id="bench",
    kfp_run_url=None,
    scan_summary={},
    scan_safe=True,
)


def make_file(path: Path, size_mb: int) -> None:
    """Write ``size_mb`` MiB of random, non-repeating blocks (no block dedups or compresses)."""
    block = os.urandom(16 * 1024 * 1024)
    with open(path, "wb") as f:
        written = 0
        i = 0
        while written < size_mb * 1024 * 1024:
            chunk = i.to_bytes(8, "little") + block[8:]
            f.write(chunk)
            written += len(chunk)
            i += 1


def size_arguments(description: str) -> argparse.Namespace:
    """Parse the artifact benchmarks' options; ``size_mb`` is filled in (1 GiB, 128 MiB quick)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="128 MB instead of 1 GB")
    parser.add_argument("--size-mb", type=int, default=None)
    parser.add_argument("--dir", default=None, help="work directory (default: a temp dir)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (best time is kept)")
    args = parser.parse_args()
    args.size_mb = args.size_mb or (128 if args.quick else 1024)
    return args
