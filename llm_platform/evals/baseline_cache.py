"""Baseline results kept on disk, so an unchanged production is not asked twice.

Greedy answers of one build on one engine to one suite do not change: the key is (production
digest, engine, suite hash). Entries live under ``$LLM_PLATFORM_HOME/eval-baselines/<model>/``
as JSON, written atomically (a reader sees a whole entry or none). Only complete runs are kept:
a run with unscorable cases (a request error) is asked again next time.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import ValidationError

from llm_platform.common.fsutil import atomic_write_bytes
from llm_platform.evals.runner import SuiteRun

#: The cache's directory under the platform home.
CACHE_DIR = "eval-baselines"


def baseline_cache_root(home: Path) -> Path:
    """Where :class:`BaselineCache` keeps its entries for the platform home ``home``."""
    return Path(home) / CACHE_DIR


class BaselineCache:
    """Suite runs of production builds keyed by (digest, engine, suite hash)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, *, model: str, digest: str, engine: str, suite_hash: str) -> Path:
        """The entry's file (whether or not it exists)."""
        key = hashlib.sha256(f"{digest}\0{engine}\0{suite_hash}".encode()).hexdigest()
        return self.root / model / f"{key}.json"

    def get(self, *, model: str, digest: str, engine: str, suite_hash: str) -> SuiteRun | None:
        """The cached run, or None (missing, unreadable or for another suite: asked again)."""
        path = self.path(model=model, digest=digest, engine=engine, suite_hash=suite_hash)
        try:
            run = SuiteRun.model_validate_json(path.read_bytes())
        except (OSError, ValidationError):
            return None
        return run if run.suite_hash == suite_hash and run.model == model else None

    def put(self, run: SuiteRun, *, digest: str, engine: str) -> bool:
        """Keep ``run`` when every case was scored; returns whether it was kept."""
        if run.unscored:
            return False
        path = self.path(model=run.model, digest=digest, engine=engine, suite_hash=run.suite_hash)
        atomic_write_bytes(path, run.model_dump_json().encode())
        return True
