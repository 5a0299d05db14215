"""What a deployment materialization carries, written and read through one typed record.

Staging and production deployments record the revision they serve, how it is served (engine,
launch settings, metric profile) and a report for the UI. Later steps (promotion, SLO checks,
rollback) read the serving part back with :meth:`DeploymentRecord.from_metadata` instead of
looking up keys one by one. Values the UI renders specially are typed: :class:`Markdown`,
:class:`Link`, :class:`Timestamp`; the Dagster layer turns them into its metadata values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from llm_platform.common.ui_numbers import round_ms, round_ratio
from llm_platform.endpoint_tests import SuiteReport
from llm_platform.promotion.tables import Markdown, suite_table
from llm_platform.serving.engines.selection import ServingChoice, serving_from_metadata
from llm_platform.slo.deployment_profile import METRIC_PROFILE_KEY, metric_profile_for

ACTION_KEY = "action"
REASON_KEY = "reason"
ENVIRONMENT_KEY = "environment"
NAMESPACE_KEY = "namespace"
ENDPOINT_KEY = "endpoint"
VERSION_KEY = "version"
DIGEST_KEY = "digest"
REVISION_KEY = "revision"
PREVIOUS_REVISION_KEY = "previous_revision"
ROLLED_BACK_FROM_KEY = "rolled_back_from"
STRATEGY_KEY = "strategy"
COMMIT_SHA_KEY = "commit_sha"
COMMIT_URL_KEY = "commit_url"
ARTIFACT_URI_KEY = "artifact_uri"
REPLICAS_KEY = "replicas"
CAPACITY_WARNINGS_KEY = "capacity_warnings"
DEPLOYED_AT_KEY = "deployed_at_unix"
INJECTED_LATENCY_KEY = "injected_latency_ms"
INJECTED_ERROR_RATE_KEY = "injected_error_rate"
APPROVER_KEY = "approver"
APPROVAL_SOURCE_KEY = "approval_source"
GATE_KEY = "gate"
ROLLOUT_STEPS_KEY = "rollout_steps"
ROLLOUT_SECONDS_KEY = "rollout_seconds"
LEDGER_EVENT_KEY = "ledger_event"
_SERVING = "(serving)"
_SUITE = "(suite)"

#: What a production materialization did: promote a digest or restore the previous one.
Action = Literal["promote", "rollback"]

_STAGING_ORDER = (
    ENVIRONMENT_KEY,
    NAMESPACE_KEY,
    ENDPOINT_KEY,
    REVISION_KEY,
    VERSION_KEY,
    DIGEST_KEY,
    COMMIT_SHA_KEY,
    COMMIT_URL_KEY,
    ARTIFACT_URI_KEY,
    REPLICAS_KEY,
    CAPACITY_WARNINGS_KEY,
    DEPLOYED_AT_KEY,
    INJECTED_LATENCY_KEY,
    INJECTED_ERROR_RATE_KEY,
    _SERVING,
    METRIC_PROFILE_KEY,
    _SUITE,
)
_PRODUCTION_ORDER = (
    ACTION_KEY,
    REASON_KEY,
    VERSION_KEY,
    DIGEST_KEY,
    REVISION_KEY,
    PREVIOUS_REVISION_KEY,
    ROLLED_BACK_FROM_KEY,
    STRATEGY_KEY,
    METRIC_PROFILE_KEY,
    _SERVING,
    ENDPOINT_KEY,
    APPROVER_KEY,
    APPROVAL_SOURCE_KEY,
    GATE_KEY,
    ROLLOUT_STEPS_KEY,
    ROLLOUT_SECONDS_KEY,
    COMMIT_URL_KEY,
    DEPLOYED_AT_KEY,
    LEDGER_EVENT_KEY,
    REPLICAS_KEY,
    CAPACITY_WARNINGS_KEY,
)


class Link(str):
    """A metadata value the UI renders as a link."""


class Timestamp(float):
    """A metadata value (unix seconds) the UI renders as a date."""


def suite_metadata(report: SuiteReport) -> dict[str, object]:
    """Numeric results of the integration suite (plotted by the UI) and its table."""
    meta: dict[str, object] = {
        "tests_passed": sum(t.passed for t in report.tests),
        "tests_total": len(report.tests),
        "tests": suite_table(report),
    }
    if report.load is not None:
        load = report.load
        meta.update(
            {
                "load_requests": load.requests,
                "load_success_rate": round_ratio(load.success_rate),
                "load_p50_ms": round_ms(load.p50_ms) if load.p50_ms is not None else -1.0,
                "load_p95_ms": round_ms(load.p95_ms) if load.p95_ms is not None else -1.0,
                "load_rps": round_ratio(load.rps),
            }
        )
    return meta


def suite_numbers(report: SuiteReport) -> dict[str, int | float]:
    """The suite's numeric results (check metadata and ledger evidence)."""
    return {k: v for k, v in suite_metadata(report).items() if isinstance(v, (int, float))}


@dataclass(frozen=True)
class DeploymentRecord:
    """One deployment materialization: the serving revision, how it is served, its report.

    The serving part (``version`` .. ``commit_sha``) is what :meth:`from_metadata` reads
    back; the report fields are written only (None: the deployment does not report it).
    ``action`` is None for staging and names what a production materialization did.
    """

    version: str
    digest: str
    revision: str
    serving: ServingChoice
    metric_profile: str
    endpoint: str = ""
    deployed_at: float = 0.0
    action: Action | None = None
    artifact_uri: str | None = None
    commit_sha: str | None = None
    reason: str | None = None
    environment: str | None = None
    namespace: str | None = None
    previous_revision: str | None = None
    rolled_back_from: str | None = None
    strategy: str | None = None
    commit_url: str | None = None
    replicas: int | None = None
    capacity_warnings: str | None = None
    injected_latency_ms: float | None = None
    injected_error_rate: float | None = None
    approver: str | None = None
    approval_source: str | None = None
    gate: Markdown | None = None
    rollout_steps: Markdown | None = None
    rollout_seconds: float | None = None
    ledger_event: str | None = None
    suite: SuiteReport | None = None

    @property
    def data_version(self) -> str:
        """The data version of the materialization: the digest and the revision serving it."""
        return f"{self.digest}:{self.revision}"

    def to_metadata(self) -> dict[str, object]:
        """The record as materialization metadata (staging's or production's layout)."""
        values: dict[str, object] = {
            ACTION_KEY: self.action,
            REASON_KEY: self.reason,
            ENVIRONMENT_KEY: self.environment,
            NAMESPACE_KEY: self.namespace,
            # Staging always links its endpoint; production shows "" when nothing serves.
            ENDPOINT_KEY: Link(self.endpoint) if self.endpoint or self.action is None else "",
            VERSION_KEY: self.version,
            DIGEST_KEY: self.digest,
            REVISION_KEY: self.revision,
            PREVIOUS_REVISION_KEY: self.previous_revision,
            ROLLED_BACK_FROM_KEY: self.rolled_back_from,
            STRATEGY_KEY: self.strategy,
            COMMIT_SHA_KEY: self.commit_sha,
            COMMIT_URL_KEY: Link(self.commit_url) if self.commit_url else None,
            ARTIFACT_URI_KEY: self.artifact_uri,
            REPLICAS_KEY: self.replicas,
            CAPACITY_WARNINGS_KEY: self.capacity_warnings,
            DEPLOYED_AT_KEY: Timestamp(self.deployed_at),
            INJECTED_LATENCY_KEY: self.injected_latency_ms,
            INJECTED_ERROR_RATE_KEY: self.injected_error_rate,
            METRIC_PROFILE_KEY: self.metric_profile,
            APPROVER_KEY: self.approver,
            APPROVAL_SOURCE_KEY: self.approval_source,
            GATE_KEY: self.gate,
            ROLLOUT_STEPS_KEY: self.rollout_steps,
            ROLLOUT_SECONDS_KEY: self.rollout_seconds,
            LEDGER_EVENT_KEY: self.ledger_event,
            _SERVING: self.serving.metadata(),
            _SUITE: suite_metadata(self.suite) if self.suite is not None else None,
        }
        meta: dict[str, object] = {}
        for key in _STAGING_ORDER if self.action is None else _PRODUCTION_ORDER:
            value = values[key]
            if isinstance(value, dict):
                meta.update(value)
            elif value is not None:
                meta[key] = value
        return meta

    @classmethod
    def from_metadata(cls, meta: Mapping[str, object]) -> DeploymentRecord:
        """The serving part of a deployment's materialization metadata.

        Raises:
            ValueError: a required key is missing, or the recorded engine, a launch setting or
                the metric profile is invalid.
        """

        def required(key: str) -> str:
            value = meta.get(key)
            if value is None or value == "":
                raise ValueError(f"the deployment records no {key!r}")
            return str(value)

        def optional(key: str) -> str | None:
            value = meta.get(key)
            return None if value is None or value == "" else str(value)

        action = meta.get(ACTION_KEY)
        return cls(
            version=required(VERSION_KEY),
            digest=required(DIGEST_KEY),
            revision=required(REVISION_KEY),
            serving=serving_from_metadata(meta),
            metric_profile=metric_profile_for(meta).name,
            endpoint=str(meta.get(ENDPOINT_KEY) or ""),
            deployed_at=float(str(meta.get(DEPLOYED_AT_KEY) or 0.0)),
            action="rollback" if action == "rollback" else "promote" if action else None,
            artifact_uri=optional(ARTIFACT_URI_KEY),
            commit_sha=optional(COMMIT_SHA_KEY),
        )
