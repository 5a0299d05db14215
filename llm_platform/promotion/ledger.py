"""The promotion ledger: which version/digest each environment serves, and everything that happened.

Per model, the ledger keeps *aliases* in MLflow's sense (``staging``, ``production``, and
``production-previous``, the rollback target) and an append-only *history* of events
(``deployed``, ``promoted``, ``refused``, ``rolled_back``, ``check_failed``, ``recovered``,
``held``: a canary left at its share, its analysis inconclusive) with
their evidence.

Layout inside an :class:`~llm_platform.artifact_store.store.ObjectStore`::

    _ledger/<model>/events/<UTC yyyymmddThhmmss.ffffffZ>-<uuid4 hex>.json   one immutable event
    _ledger/<model>/aliases.json                                            current aliases

The ``_ledger`` prefix cannot clash with the registry's ``<model>/...`` keys because model
names never contain ``_``. Every event is its own object, so concurrent writers never lose an
event; history is the sorted key listing (time order; events within the same microsecond are
ordered by their random id). ``aliases.json`` is rewritten with one atomic put: a reader sees the
old or the new mapping, never a mix, but two writers updating the same model at the same moment
race and the last one wins. Promotions of one model are serialised across processes by its
promotion lock (``promotion.exclusive``, taken around the rollout and this write) and by the
orchestrator (Dagster run concurrency per model), which is what makes last-writer-wins
acceptable here.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from llm_platform.artifact_store.store import ObjectStore
from llm_platform.common.dns_label import is_dns_label
from llm_platform.common.errors import PlatformError

LEDGER_PREFIX = "_ledger"
PREVIOUS_SUFFIX = "-previous"

EventKind = Literal[
    "deployed", "promoted", "refused", "rolled_back", "check_failed", "recovered", "held"
]
EVENT_KINDS: tuple[str, ...] = (
    "deployed",
    "promoted",
    "refused",
    "rolled_back",
    "check_failed",
    "recovered",
    "held",
)

_TIME_FORMAT = "%Y%m%dT%H%M%S.%fZ"


class LedgerError(PlatformError):
    """The ledger is unreadable (corrupt object) or a request is invalid; names the key."""


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _check_name(kind: str, value: str) -> str:
    if not is_dns_label(value):
        raise LedgerError(f"invalid {kind} {value!r}: expected a lowercase DNS-1123 label")
    return value


class AliasTarget(BaseModel):
    """What an alias points at: one model version + digest, as deployed.

    Attributes:
        version: Model version.
        digest: Artifact sha256.
        revision: Serving revision (e.g. blue/green colour or Kubernetes revision), if any.
        since: When the alias was moved here (UTC).
        run_id: The Dagster run that moved it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    digest: str
    revision: str | None = None
    since: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    run_id: str | None = None

    @field_validator("since")
    @classmethod
    def _since_utc(cls, value: datetime) -> datetime:
        return _utc(value)


class LedgerEvent(BaseModel):
    """One thing that happened to a model in an environment.

    Attributes:
        kind: ``deployed`` (to staging), ``promoted``, ``refused``, ``rolled_back``,
            ``check_failed`` (a production SLO check failed), ``recovered`` (a production SLO
            check passed again after failing).
        model: Model name.
        env: Environment name.
        version: Model version concerned.
        digest: Artifact sha256 concerned.
        time: When (UTC); defaults to now.
        actor: Who or what acted (user, sensor, schedule name).
        approver: The approver of a promotion, when one was required.
        run_id: The Dagster run.
        revision: Serving revision, if any.
        reason: One line on why.
        commit_sha: The models-repo commit the digest was registered from (announcements name
            it, as the seed's deployment messages did).
        evidence: Verdicts, check results, approval record... (JSON-serialisable).
        event_id: Random id, assigned by :meth:`Ledger.record`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: EventKind
    model: str
    env: str
    version: str | None = None
    digest: str | None = None
    time: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    actor: str | None = None
    approver: str | None = None
    run_id: str | None = None
    revision: str | None = None
    reason: str = ""
    commit_sha: str | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)
    event_id: str = ""

    @field_validator("time")
    @classmethod
    def _time_utc(cls, value: datetime) -> datetime:
        return _utc(value)


class _AliasesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    aliases: dict[str, AliasTarget]


def previous_alias(env: str) -> str:
    """The rollback alias of an environment (``production`` -> ``production-previous``)."""
    return f"{env}{PREVIOUS_SUFFIX}"


class Ledger:
    """Aliases and event history of every model, kept in an object store.

    Args:
        store: Where the ledger lives (typically the artifact store).
        prefix: Key prefix of the ledger inside the store.
    """

    def __init__(self, store: ObjectStore, *, prefix: str = LEDGER_PREFIX) -> None:
        self.store = store
        self.prefix = prefix.strip("/")

    def __repr__(self) -> str:
        return f"Ledger({self.store!r})"

    def _model_prefix(self, model: str) -> str:
        return f"{self.prefix}/{_check_name('model name', model)}/"

    def _aliases_key(self, model: str) -> str:
        return f"{self._model_prefix(model)}aliases.json"

    def _events_prefix(self, model: str) -> str:
        return f"{self._model_prefix(model)}events/"

    def record(self, event: LedgerEvent) -> LedgerEvent:
        """Append an event (one new immutable object).

        Returns:
            The event as stored, with ``event_id`` assigned.

        Raises:
            LedgerError: The model or environment name is invalid.
        """
        _check_name("environment", event.env)
        stored = event.model_copy(update={"event_id": event.event_id or uuid.uuid4().hex})
        stamp = stored.time.strftime(_TIME_FORMAT)
        key = f"{self._events_prefix(event.model)}{stamp}-{stored.event_id}.json"
        self.store.put_bytes(key, stored.model_dump_json().encode("utf-8"))
        return stored

    def aliases(self, model: str) -> dict[str, AliasTarget]:
        """Current aliases of a model (empty when it has none).

        Raises:
            LedgerError: ``aliases.json`` is corrupt.
        """
        key = self._aliases_key(model)
        raw = self.store.get_bytes(key)
        if raw is None:
            return {}
        try:
            parsed = _AliasesFile.model_validate_json(raw)
        except ValidationError as exc:
            raise LedgerError(f"{self.store.key_uri(key)}: corrupt aliases file: {exc}") from None
        if parsed.model != model:
            raise LedgerError(
                f"{self.store.key_uri(key)}: aliases file names model {parsed.model!r}"
            )
        return parsed.aliases

    def set_aliases(self, model: str, changes: dict[str, AliasTarget | None]) -> None:
        """Move (or, with ``None``, delete) several aliases in one atomic write.

        Last writer wins when two processes update the same model concurrently (see module
        docstring).
        """
        current = self.aliases(model)
        for alias, target in changes.items():
            _check_name("alias", alias)
            if target is None:
                current.pop(alias, None)
            else:
                current[alias] = target
        body = _AliasesFile(model=model, aliases=dict(sorted(current.items())))
        self.store.put_bytes(self._aliases_key(model), body.model_dump_json(indent=2).encode())

    def set_alias(self, model: str, alias: str, target: AliasTarget) -> None:
        """Point one alias at a version + digest."""
        self.set_aliases(model, {alias: target})

    def serving(self, model: str, env: str) -> AliasTarget | None:
        """What ``env`` serves for ``model`` according to the ledger, or ``None``."""
        return self.aliases(model).get(env)

    def previous(self, model: str, env: str) -> AliasTarget | None:
        """The rollback target of ``env`` (``<env>-previous``): the one source of "previous
        production revision" for the rollback sensor and the rollback itself."""
        return self.aliases(model).get(previous_alias(env))

    def promote(self, event: LedgerEvent, target: AliasTarget) -> LedgerEvent:
        """Record a promotion and move ``<env>`` to ``target``, keeping the old one as previous.

        The previous alias is only moved when the served digest actually changes, so
        re-promoting the same digest keeps the real rollback target.

        Raises:
            LedgerError: ``event`` is not a ``promoted`` or ``deployed`` event.
        """
        if event.kind not in ("promoted", "deployed"):
            raise LedgerError(f"promote() needs a promoted/deployed event, got {event.kind!r}")
        current = self.serving(event.model, event.env)
        changes: dict[str, AliasTarget | None] = {event.env: target}
        if current is not None and current.digest != target.digest:
            changes[previous_alias(event.env)] = current
        stored = self.record(event)
        self.set_aliases(event.model, changes)
        return stored

    def rollback(self, event: LedgerEvent) -> AliasTarget:
        """Record a rollback and point ``<env>`` back at ``<env>-previous`` (which is cleared).

        Returns:
            The restored target.

        Raises:
            LedgerError: Not a ``rolled_back`` event, or there is nothing to roll back to.
        """
        if event.kind != "rolled_back":
            raise LedgerError(f"rollback() needs a rolled_back event, got {event.kind!r}")
        previous = self.aliases(event.model).get(previous_alias(event.env))
        if previous is None:
            raise LedgerError(
                f"no {previous_alias(event.env)!r} alias for {event.model}: nothing to roll back to"
            )
        restored = previous.model_copy(update={"since": event.time, "run_id": event.run_id})
        self.record(event)
        self.set_aliases(event.model, {event.env: restored, previous_alias(event.env): None})
        return restored

    def history(
        self,
        model: str,
        *,
        env: str | None = None,
        limit: int | None = None,
        since: datetime | None = None,
    ) -> list[LedgerEvent]:
        """Events of a model, newest first.

        Args:
            model: Model name.
            env: Only events of this environment.
            limit: At most this many events (objects are read lazily, newest first).
            since: Only events at or after this time (selected by key: older objects are not
                read).

        Raises:
            LedgerError: An event object is corrupt or belongs to another model.
        """
        if limit is not None and limit < 0:
            raise LedgerError(f"limit must be >= 0, got {limit}")
        prefix = self._events_prefix(model)
        keys = [k for k in self.store.list_keys(prefix) if k.endswith(".json")]
        if since is not None:
            stamp = _utc(since).strftime(_TIME_FORMAT)
            keys = [k for k in keys if k[len(prefix) :] >= stamp]
        events: list[LedgerEvent] = []
        for key in sorted(keys, reverse=True):
            if limit is not None and len(events) >= limit:
                break
            event = self._read_event(key, model)
            if env is None or event.env == env:
                events.append(event)
        return events

    def _read_event(self, key: str, model: str) -> LedgerEvent:
        raw = self.store.get_bytes(key)
        if raw is None:
            raise LedgerError(f"{self.store.key_uri(key)}: listed but missing")
        try:
            event = LedgerEvent.model_validate(json.loads(raw))
        except (ValueError, ValidationError) as exc:
            raise LedgerError(f"{self.store.key_uri(key)}: corrupt ledger event: {exc}") from None
        if event.model != model:
            raise LedgerError(f"{self.store.key_uri(key)}: event names model {event.model!r}")
        return event

    def models(self) -> list[str]:
        """Every model the ledger holds anything for, sorted (one listing of the prefix)."""
        keys = self.store.list_keys(f"{self.prefix}/")
        names = {key[len(self.prefix) + 1 :].split("/", 1)[0] for key in keys}
        return sorted(name for name in names if is_dns_label(name))

    def has_model(self, model: str) -> bool:
        """Whether the ledger holds anything (aliases or events) for ``model``."""
        return bool(self.store.list_keys(self._model_prefix(model)))
