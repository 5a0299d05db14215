"""What reporting reads of the outcomes defined above it: ledger events (``promotion``), SLO
verdicts (``slo``), endpoint test reports (``endpoint_tests``), gate decisions and rollouts
(``promotion``).

Reporting sits below those packages and never imports them: each protocol here names only the
fields a message or a commit status needs, and the real types satisfy it structurally (mypy
checks every call site).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol


class AnnouncedEvent(Protocol):
    """What a message needs of a ledger event (``llm_platform.promotion.ledger.LedgerEvent``)."""

    @property
    def kind(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def env(self) -> str: ...
    @property
    def version(self) -> str | None: ...
    @property
    def digest(self) -> str | None: ...
    @property
    def time(self) -> datetime: ...
    @property
    def actor(self) -> str | None: ...
    @property
    def approver(self) -> str | None: ...
    @property
    def run_id(self) -> str | None: ...
    @property
    def reason(self) -> str: ...
    @property
    def commit_sha(self) -> str | None: ...
    @property
    def evidence(self) -> Mapping[str, Any]: ...


class EndpointTestOutcome(Protocol):
    """One endpoint test (``llm_platform.endpoint_tests.models.TestResult``)."""

    @property
    def name(self) -> str: ...
    @property
    def passed(self) -> bool: ...
    @property
    def detail(self) -> str: ...


class EndpointSuiteOutcome(Protocol):
    """The endpoint test suite (``llm_platform.endpoint_tests.models.SuiteReport``)."""

    @property
    def tests(self) -> Sequence[EndpointTestOutcome]: ...


class ObjectiveOutcome(Protocol):
    """One SLO objective's result (``llm_platform.slo.evaluate.ObjectiveResult``)."""

    @property
    def verdict(self) -> str: ...
    @property
    def window(self) -> str: ...
    @property
    def summary(self) -> str:
        """The result on one line under its check's name."""
        ...


class SLOOutcome(Protocol):
    """An SLO verdict (``llm_platform.slo.evaluate.SLOVerdict``)."""

    @property
    def objectives(self) -> Sequence[ObjectiveOutcome]: ...


class GateCondition(Protocol):
    """One condition of the promotion gate (``llm_platform.promotion.gate.GateItem``)."""

    @property
    def name(self) -> str: ...
    @property
    def ok(self) -> bool: ...
    @property
    def reason(self) -> str: ...


class GateOutcome(Protocol):
    """The promotion gate's decision (``llm_platform.promotion.gate.GateDecision``)."""

    @property
    def items(self) -> Sequence[GateCondition]: ...


class RolloutOutcome(Protocol):
    """What a rollout did (``llm_platform.promotion.rollout.RolloutResult``)."""

    @property
    def outcome(self) -> str: ...
    @property
    def strategy(self) -> str: ...
    @property
    def new_revision(self) -> str: ...
    @property
    def reason(self) -> str: ...
