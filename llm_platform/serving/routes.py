"""The gateway's routes file: which revisions serve a model, and with what traffic weight.

The local runtime writes the file atomically (write + rename); the gateway polls its identity
(inode, mtime, size) and swaps in a new immutable :class:`RouteTable` when it changes. A request
picks its backend once, so a swap never affects a request that is already being proxied.
"""

from __future__ import annotations

import json
import os
import random
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llm_platform.common.errors import ConfigurationError
from llm_platform.serving.faults import FaultSettings, FaultSource
from llm_platform.serving.request_contract import RequestPolicy


class RevisionRoute(BaseModel):
    """One serving revision of a model behind the gateway."""

    model_config = ConfigDict(extra="forbid")

    revision: str = Field(min_length=1)
    version: str = Field(min_length=1)
    color: str = ""
    url: str = Field(pattern=r"^http://[^/\s]+(:\d+)?/?$")
    #: The revision's replicas (``url`` alone when empty); its share is spread across them.
    urls: list[Annotated[str, Field(pattern=r"^http://[^/\s]+(:\d+)?/?$")]] = []
    weight: int = Field(ge=0, le=100)
    #: Faults the gateway injects into this revision's requests (see serving.faults).
    faults: FaultSettings = FaultSettings()
    #: A JSON file whose settings replace ``faults`` while it exists (re-read when it changes).
    fault_file: str | None = None
    #: Percent of the model's requests also copied to this weight-0 revision (serving.shadow).
    shadow: int = Field(default=0, ge=0, le=100)
    #: Requests one replica serves at once (its engine's slots); the gateway queues the rest.
    #: None: no limit.
    slots: int | None = Field(default=None, ge=1)
    #: The engine serving it and its context (the gateway's request contract depends on them).
    engine: str | None = None
    context_size: int | None = Field(default=None, ge=1)
    #: Engine extensions the environment enables beyond the engine's defaults.
    extensions: list[str] = []


class ModelRoutes(BaseModel):
    """All revisions of one model."""

    model_config = ConfigDict(extra="forbid")

    revisions: list[RevisionRoute]


class RoutesFile(BaseModel):
    """The whole routes file: ``{"models": {"<model>": {"revisions": [...]}}}``."""

    model_config = ConfigDict(extra="forbid")

    models: dict[str, ModelRoutes] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Backend:
    """A revision chosen for one request; carries its metric labels."""

    model: str
    revision: str
    version: str
    color: str
    origin: str
    #: What the revision accepts (checked before the request is proxied).
    policy: RequestPolicy
    #: Concurrent requests this replica takes (None: no limit); see serving.admission.
    slots: int | None = None


class ModelRouter:
    """Weighted random choice among the revisions of one model with weight > 0, then a uniform
    choice among that revision's replicas."""

    __slots__ = ("backends", "_replicas", "_cumulative", "_total", "_by_revision", "_shadow")

    def __init__(self, model: str, routes: ModelRoutes) -> None:
        self.backends: list[Backend] = []
        self._replicas: list[list[Backend]] = []
        self._cumulative: list[int] = []
        self._by_revision: dict[str, list[Backend]] = {}
        self._shadow: tuple[list[Backend], int] | None = None
        total = 0
        for r in routes.revisions:
            policy = RequestPolicy.for_revision(r.engine, r.context_size, r.extensions)
            replicas = [
                Backend(model, r.revision, r.version, r.color, url.rstrip("/"), policy, r.slots)
                for url in (r.urls or [r.url])
            ]
            self._by_revision[r.revision] = replicas
            if r.weight <= 0:
                if r.shadow > 0 and self._shadow is None:
                    self._shadow = (replicas, r.shadow)
                continue
            total += r.weight
            self.backends.append(replicas[0])
            self._replicas.append(replicas)
            self._cumulative.append(total)
        self._total = total

    def pick(self, rng: random.Random) -> Backend | None:
        """A backend drawn in proportion to the weights, or None when all weights are 0."""
        if self._total == 0:
            return None
        i = 0
        if len(self._replicas) > 1:
            i = bisect_right(self._cumulative, rng.randrange(self._total))
        replicas = self._replicas[i]
        return replicas[0] if len(replicas) == 1 else replicas[rng.randrange(len(replicas))]

    def shadow(self, rng: random.Random) -> Backend | None:
        """The shadow revision's replica for this request when the share draws it, else None."""
        if self._shadow is None:
            return None
        replicas, share = self._shadow
        if rng.random() * 100 >= share:
            return None
        return replicas[0] if len(replicas) == 1 else replicas[rng.randrange(len(replicas))]

    def replicas(self, revision: str) -> list[Backend]:
        """Every replica of ``revision`` in the routes (empty when it is not routed)."""
        return self._by_revision.get(revision, [])

    def pin(self, revision: str, rng: random.Random) -> Backend | None:
        """A replica of ``revision`` whatever its weight (smoke tests of a new revision, with
        its faults applied), or None when it is not in the routes."""
        replicas = self._by_revision.get(revision)
        if not replicas:
            return None
        return replicas[0] if len(replicas) == 1 else replicas[rng.randrange(len(replicas))]


class RouteTable:
    """An immutable snapshot of the routes file."""

    def __init__(self, spec: RoutesFile) -> None:
        self.spec = spec
        self.routers = {name: ModelRouter(name, m) for name, m in spec.models.items()}

    def fault_sources(self) -> list[FaultSource]:
        """Every revision's fault settings and fault file."""
        return [
            (model, r.revision, r.faults, r.fault_file)
            for model, routes in self.spec.models.items()
            for r in routes.revisions
        ]


def parse_routes(text: str, *, source: str) -> RouteTable:
    """Parse and validate routes JSON.

    Raises:
        ConfigurationError: the text is not valid JSON or does not match the schema; the
            message names ``source`` and the offending field.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{source}: not valid JSON: {exc}") from exc
    try:
        return RouteTable(RoutesFile.model_validate(data))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(f"{source}: invalid routes: {problems}") from exc


class StaticRoutes:
    """One model's single revision, fixed at start: the table of a gateway sidecar in a pod
    (``--upstream``); it never reloads. Same interface as :class:`RoutesWatcher`.

    Args:
        model: the model name (the ``model`` label).
        route: its one revision, at weight 100.
    """

    def __init__(self, model: str, route: RevisionRoute) -> None:
        self.path = Path(f"<{route.url}>")  # shown in /-/routes instead of a file
        self.table = RouteTable(RoutesFile(models={model: ModelRoutes(revisions=[route])}))
        self.error: str | None = None
        self.generation = 1

    def poll(self) -> bool:
        """Nothing to reload."""
        return False


class RoutesWatcher:
    """Reloads the routes file when its identity (inode, mtime, size) changes.

    Args:
        path: the routes file. A missing file means "no routes yet" (empty table).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.table = RouteTable(RoutesFile())
        self.error: str | None = None
        self.generation = 0
        self._loaded = False
        self._stamp: tuple[int, int, int] | None = None

    def _identity(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def poll(self) -> bool:
        """Reload when the file changed.

        Returns:
            True when a new table was installed.

        Raises:
            ConfigurationError: the changed file is invalid; the previous table stays active
                and :attr:`error` holds the message.
        """
        stamp = self._identity()
        if stamp == self._stamp and self._loaded:
            return False
        self._stamp, self._loaded = stamp, True
        if stamp is None:
            table = RouteTable(RoutesFile())
        else:
            try:
                table = parse_routes(self.path.read_text(encoding="utf-8"), source=str(self.path))
            except ConfigurationError as exc:
                self.error = str(exc)
                raise
        self.table = table
        self.error = None
        self.generation += 1
        return True
