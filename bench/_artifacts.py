"""Shared by the artifact benchmarks: registration metadata and large incompressible files."""

from __future__ import annotations

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
