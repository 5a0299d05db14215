"""Fault injection for a model server: extra latency and a seeded error rate.

Settings start from the command line and can be replaced while the server runs through a JSON
file ``{"latency_ms": X, "error_rate": P}``, re-read whenever its identity changes. A missing
file means the command-line settings; an invalid file keeps the previous settings and is
reported in the log (and in ``/health``) rather than silently ignored.
"""

from __future__ import annotations

import json
import logging
import os
import random
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger("llm_platform.model_server")


class FaultSettings(BaseModel):
    """Injected faults of one revision.

    ``latency_ms`` delays every inference request before it is proxied; ``error_rate`` is the
    probability of answering 500 without proxying; a stream pauses ``stall_ms`` after its
    first content token; ``cut_rate`` is the probability that a stream is cut right after its
    first content token.
    """

    model_config = ConfigDict(extra="forbid")

    latency_ms: float = Field(default=0.0, ge=0.0, le=600_000.0)
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    stall_ms: float = Field(default=0.0, ge=0.0, le=600_000.0)
    cut_rate: float = Field(default=0.0, ge=0.0, le=1.0)


class FaultInjector:
    """Current fault settings plus the seeded random source deciding which requests fail.

    Args:
        base: settings from the command line.
        fault_file: optional JSON file overriding ``base`` while it exists.
        seed: seed for the error decisions (None: random).
    """

    def __init__(
        self, base: FaultSettings, *, fault_file: Path | None = None, seed: int | None = None
    ) -> None:
        self.base = base
        self.current = base
        self.fault_file = fault_file
        self.error: str | None = None
        self._rng = random.Random(seed)
        self._stamp: tuple[int, int, int] | None = None

    def refresh(self) -> FaultSettings:
        """Re-read the fault file if it changed; return the settings in force."""
        if self.fault_file is None:
            return self.current
        try:
            st = os.stat(self.fault_file)
            stamp: tuple[int, int, int] | None = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp:
            return self.current
        self._stamp = stamp
        if stamp is None:
            self.current, self.error = self.base, None
            log.warning("fault file %s removed: back to %s", self.fault_file, self.base)
            return self.current
        try:
            data = json.loads(self.fault_file.read_text(encoding="utf-8"))
            merged = {**self.base.model_dump(), **data} if isinstance(data, dict) else data
            self.current = FaultSettings.model_validate(merged)
            self.error = None
            log.warning("fault settings now %s (from %s)", self.current, self.fault_file)
        except (OSError, json.JSONDecodeError, ValidationError) as exc:
            self.error = f"{self.fault_file}: invalid fault settings: {exc}"
            log.error("%s; keeping %s", self.error, self.current)
        return self.current

    def should_fail(self, settings: FaultSettings) -> bool:
        """Draw whether this request gets an injected error."""
        return settings.error_rate > 0 and self._rng.random() < settings.error_rate
