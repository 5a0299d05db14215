"""One pid file per started process: the runtime can always find and stop what it started.

``observed.json`` and ``stack.json`` are convenient views of what runs; the pid files under
``home/runtime/pids/<pid>.json`` are the record that survives damage to either of them. A file
is written right after a process is spawned and removed once it is stopped or found dead. Each
holds the exact command line, and a signal is only ever sent to a pid whose ``/proc`` command
line still equals it (pid reuse never hits a foreign process). A corrupt pid file loses only
that one entry; it is reported and removed.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from llm_platform.common.fsutil import atomic_write_bytes
from llm_platform.targets.local.processes import is_our_process, stop_process

Role = Literal["gateway", "model-server", "prometheus", "controller"]

log = logging.getLogger(__name__)


class PidEntry(BaseModel):
    """One process this home started."""

    pid: int = Field(gt=0)
    role: Role
    key: str = Field(description="gateway: env; model-server: env/model/revision[/replica]")
    argv: list[str] = Field(min_length=1)
    port: int | None = None
    log_path: str = ""
    started_at: float = Field(default_factory=time.time)

    def alive(self) -> bool:
        """True when the pid still runs exactly this command line."""
        return is_our_process(self.pid, self.argv)


class PidFiles:
    """The pid files of one platform home."""

    def __init__(self, home: Path) -> None:
        self.dir = home / "runtime" / "pids"

    def _path(self, pid: int) -> Path:
        return self.dir / f"{pid}.json"

    def record(self, entry: PidEntry) -> None:
        """Write the pid file of a process that was just spawned."""
        atomic_write_bytes(self._path(entry.pid), entry.model_dump_json(indent=2).encode())

    def forget(self, pid: int | None) -> None:
        """Remove the pid file of a process that was stopped or died."""
        if pid:
            self._path(pid).unlink(missing_ok=True)

    def entries(self) -> list[PidEntry]:
        """Every readable pid file (dead processes included); corrupt files are removed."""
        found: list[PidEntry] = []
        for path in sorted(self.dir.glob("*.json")) if self.dir.is_dir() else []:
            try:
                found.append(PidEntry.model_validate_json(path.read_bytes()))
            except FileNotFoundError:
                continue
            except (ValidationError, ValueError, OSError) as exc:
                log.error("%s: corrupt pid file removed: %s", path, exc)
                path.unlink(missing_ok=True)
        return found

    def live(self, *roles: Role) -> list[PidEntry]:
        """Entries whose process still runs (of the given roles; all when none are given).

        Pid files of processes that are gone are removed on the way.
        """
        alive = []
        for entry in self.entries():
            if not entry.alive():
                self.forget(entry.pid)
            elif not roles or entry.role in roles:
                alive.append(entry)
        return alive

    def stop(self, entry: PidEntry) -> bool:
        """Stop one recorded process (command line verified first); True when signalled."""
        signalled = stop_process(entry.pid, entry.argv)
        self.forget(entry.pid)
        return signalled

    def stop_all(self, *roles: Role) -> list[int]:
        """Stop every live recorded process of the given roles; returns the pids signalled."""
        return [e.pid for e in self.live(*roles) if self.stop(e)]
