"""Fault injection at the gateway: latency, errors, stalled and cut streams, per revision.

The gateway applies a revision's faults to every inference request routed to it, whatever
engine serves it, so drills and automatic rollbacks work the same for every engine. Settings
come from the routes file (``faults`` of a revision) and can be replaced while the gateway runs
through the revision's fault file (``fault_file``), JSON ``{"latency_ms": X, "error_rate": P,
"stall_ms": S, "cut_rate": Q}`` merged over the routes file's settings and re-read whenever its
identity changes. A missing file means the routes file's settings; an invalid file keeps the
previous settings and is reported in the log and in ``/-/routes`` rather than silently ignored.
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger("llm_platform.gateway")


class FaultSettings(BaseModel):
    """Injected faults of one revision.

    ``latency_ms`` delays every inference request before it is proxied; ``error_rate`` is the
    probability of answering 500 (``injected_fault``) without proxying; a stream pauses
    ``stall_ms`` after its first content token; ``cut_rate`` is the probability that a stream
    is cut right after its first content token.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_ms: float = Field(default=0.0, ge=0.0, le=600_000.0)
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    stall_ms: float = Field(default=0.0, ge=0.0, le=600_000.0)
    cut_rate: float = Field(default=0.0, ge=0.0, le=1.0)

    @property
    def active(self) -> bool:
        """Whether any fault is set."""
        return bool(self.latency_ms or self.error_rate or self.stall_ms or self.cut_rate)


NO_FAULTS = FaultSettings()


class FaultInjector:
    """The settings in force for one revision: the routes file's, or its fault file's.

    Args:
        base: settings from the routes file.
        fault_file: optional JSON file overriding ``base`` while it exists.
    """

    def __init__(self, base: FaultSettings, *, fault_file: Path | None = None) -> None:
        self.base = base
        self.current = base
        self.fault_file = fault_file
        self.error: str | None = None
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
            if self.current != self.base:
                log.warning("fault file %s removed: back to %s", self.fault_file, self.base)
            self.current, self.error = self.base, None
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


#: One revision's fault sources: (model, revision, routes-file settings, fault file or None).
FaultSource = tuple[str, str, FaultSettings, str | None]


class FaultTable:
    """The fault injectors of every routed revision and the seeded draws deciding which
    requests fail.

    Args:
        seed: seed of the draws (None: random).
    """

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._injectors: dict[tuple[str, str], FaultInjector] = {}

    def update(self, sources: Iterable[FaultSource]) -> None:
        """Follow a new routes table; unchanged revisions keep their injector (and file state)."""
        injectors = {}
        for model, revision, base, fault_file in sources:
            path = Path(fault_file) if fault_file else None
            old = self._injectors.get((model, revision))
            if old is not None and old.base == base and old.fault_file == path:
                injectors[(model, revision)] = old
                continue
            injector = FaultInjector(base, fault_file=path)
            injector.refresh()
            injectors[(model, revision)] = injector
        self._injectors = injectors

    def refresh(self) -> None:
        """Re-read the fault files that changed."""
        for injector in self._injectors.values():
            injector.refresh()

    def get(self, model: str, revision: str) -> FaultSettings:
        """The faults in force for a revision (none for an unknown one)."""
        injector = self._injectors.get((model, revision))
        return NO_FAULTS if injector is None else injector.current

    def draw(self, probability: float) -> bool:
        """True with ``probability`` (seeded)."""
        return probability > 0 and self._rng.random() < probability

    def errors(self) -> dict[str, str]:
        """Problems of fault files, ``model/revision`` -> message."""
        return {f"{m}/{r}": i.error for (m, r), i in self._injectors.items() if i.error}
