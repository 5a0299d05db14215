"""Deploying a registered digest to staging and testing it: the staging use case.

:func:`deploy_to_staging` deploys the exact digest, waits until it serves (restoring the
previous revision when it never does), lets Prometheus see the new revision's series, runs the
integration suite through the gateway, moves the ``staging`` alias and announces the result.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from llm_platform.common.ui_numbers import MAX_CHECK_DESCRIPTION
from llm_platform.config.applicability import serving_replicas
from llm_platform.config.environments import STAGING
from llm_platform.endpoint_tests import SuiteReport, run_suite
from llm_platform.gitops import GitRepo
from llm_platform.promotion.deployment_record import DeploymentRecord, suite_numbers
from llm_platform.promotion.ledger import AliasTarget, LedgerEvent
from llm_platform.promotion.ports import (
    Collaborators,
    DeploymentOutcome,
    PrometheusAccess,
    RepoReaders,
    failed,
)
from llm_platform.promotion.revisions import revision_name, revision_spec
from llm_platform.promotion.tables import log_block
from llm_platform.reporting.commit_status import integration_result
from llm_platform.serving.engines import EngineError
from llm_platform.serving.engines.selection import (
    ServingChoice,
    resolve_serving,
    streams_through_gateway,
)
from llm_platform.slo import DEFAULT_PROFILE, PrometheusError, profile_for_engine
from llm_platform.slo.profiles import selector
from llm_platform.targets.artifacts import ArtifactUnavailable
from llm_platform.targets.base import (
    DeploymentNotReady,
    DeploymentSpec,
    DeploymentStatus,
    EngineRefused,
)

#: The label of the gateway's series that names the serving revision.
REVISION_LABEL = "revision"


class StagingOptions(Protocol):
    """The launch options a staging deployment reads (fault injection is for demos and drills)."""

    @property
    def ready_timeout_s(self) -> float: ...
    @property
    def load_requests(self) -> int: ...
    @property
    def load_concurrency(self) -> int: ...
    @property
    def min_success_rate(self) -> float: ...
    @property
    def inject_latency_ms(self) -> float: ...
    @property
    def inject_error_rate(self) -> float: ...
    @property
    def settle_before_load_s(self) -> float: ...


class SuiteRunner(Protocol):
    """The integration suite (``run_suite``)."""

    def __call__(
        self,
        base_url: str,
        *,
        model: str,
        requests: int,
        concurrency: int,
        min_success_rate: float,
        health_path: str,
        stream: bool,
        chat: bool,
    ) -> SuiteReport: ...


@dataclass(frozen=True)
class Registered:
    """The registered digest to deploy and the commit it was registered from."""

    version: str
    digest: str
    commit_sha: str


def fault_variant(options: StagingOptions) -> str:
    """The revision-name variant of injected faults ("" without faults).

    Injected faults get their own revision so that a faulty and a clean deployment of one
    digest never share a process or a metrics series.
    """
    if not (options.inject_latency_ms or options.inject_error_rate):
        return ""
    fault = f"{options.inject_latency_ms}:{options.inject_error_rate}".encode()
    return "f" + hashlib.sha256(fault).hexdigest()[:6]


def revision_requests_selector(*, namespace: str, model: str, revision: str) -> str:
    """The gateway's request counter of one revision (every engine is measured by it)."""
    p = DEFAULT_PROFILE
    labels = {p.namespace_label: namespace, p.model_label: model, REVISION_LABEL: revision}
    return p.requests_total + selector(labels)


def wait_for_series(
    prometheus: PrometheusAccess, query: str, *, timeout_s: float, monitoring_namespace: str
) -> bool:
    """Wait until Prometheus holds a sample of ``query`` (False at the timeout, or when no
    Prometheus is reachable: the SLO checks then report the problem themselves)."""
    deadline = time.monotonic() + timeout_s
    try:
        with prometheus.client(monitoring_namespace=monitoring_namespace, env=STAGING) as client:
            while not client.query(query, at=datetime.now(UTC)):
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.5)
    except PrometheusError:
        return False
    return True


def suite_failures(report: SuiteReport) -> str | None:
    """What failed in the suite, for the integration check's description (None: passed)."""
    if report.passed:
        return None
    return "; ".join(f"{t.name}: {t.detail}" for t in report.tests if not t.passed)[
        :MAX_CHECK_DESCRIPTION
    ]


def _deploy(
    spec: DeploymentSpec, what: str, ready_timeout_s: float, c: Collaborators
) -> DeploymentStatus | DeploymentOutcome:
    """Apply ``spec`` and wait until it serves; a failure when it is refused or never ready, in
    which case the previous revision is re-applied (or the new one removed)."""
    rt, env = c.runtime, spec.env
    previous = rt.desired_spec(env, spec.model)
    kept = "the previous revision keeps serving" if previous else "nothing was serving"
    try:
        rt.apply(spec)
    except EngineRefused as exc:  # refused before anything changed
        return failed(f"{what} not deployed to {env}: {exc}; {kept}")
    try:
        return rt.wait_ready(env, spec.model, timeout_s=ready_timeout_s)
    except DeploymentNotReady as exc:
        if previous is not None and previous.revisions != spec.revisions:
            rt.apply(previous)  # the previous revision keeps (and stays) serving
        else:
            rt.delete(env, spec.model)
        return failed(
            f"{what} did not become ready in {env}; {kept}", server_log_tail=log_block(str(exc))
        )


def _run_suite(
    suite: SuiteRunner, endpoint: str, model: str, choice: ServingChoice, options: StagingOptions
) -> SuiteReport:
    engine = choice.spec
    return suite(
        endpoint,
        model=model,
        requests=options.load_requests,
        concurrency=options.load_concurrency,
        min_success_rate=options.min_success_rate,
        health_path=engine.readiness_path,
        stream=streams_through_gateway(engine),
        chat=engine.supports_chat,
    )


def deploy_to_staging(
    model: str,
    registered: Registered,
    options: StagingOptions,
    *,
    repo: GitRepo,
    config_sha: str,
    readers: RepoReaders,
    prometheus: PrometheusAccess,
    c: Collaborators,
    suite: SuiteRunner = run_suite,
) -> DeploymentOutcome:
    """Deploy ``registered`` to staging, wait until it serves, run the integration suite.

    The engine is ``serving.engine`` of the model config at ``config_sha``, else chosen from
    the artifact's format. If the new revision never becomes ready, the previous one keeps
    serving (it is re-applied) and the outcome fails with the tail of the server's log. A
    failing suite is still a deployment (``deployed``, its record carries the suite report):
    the integration check fails, not the step.
    """
    version, digest = registered.version, registered.digest
    env = readers.environment(repo, config_sha, STAGING)
    record = c.registry.get_record(model, version, digest)
    if record is None:
        return failed(f"no registry record for {model} {version} {digest[:12]}")
    try:
        choice = resolve_serving(
            readers.model(repo, config_sha, model).serving,
            c.target.local_artifact(model, record.artifact_uri, digest),
        )
    except (EngineError, ArtifactUnavailable) as exc:
        return failed(f"{model} {version} ({digest[:12]}): {exc}")
    revision = revision_name(version, digest, variant=fault_variant(options))
    spec = DeploymentSpec(
        env=env.environment,
        model=model,
        revisions=[
            revision_spec(
                revision=revision,
                version=version,
                digest=digest,
                artifact_uri=record.artifact_uri,
                serving=choice,
                replicas=serving_replicas(env.autoscaling),
                color="blue",
                weight=100,
                latency_ms=options.inject_latency_ms,
                error_rate=options.inject_error_rate,
                extensions=env.serving.extensions,
            )
        ],
    )
    status = _deploy(spec, f"{model} {version} ({digest[:12]})", options.ready_timeout_s, c)
    if isinstance(status, DeploymentOutcome):
        return status
    endpoint = status.endpoint or ""
    if not wait_for_series(
        prometheus,
        revision_requests_selector(namespace=env.namespace, model=model, revision=revision),
        timeout_s=options.settle_before_load_s,
        monitoring_namespace=env.monitoring.prometheus_namespace,
    ):
        c.log.warning(
            "Prometheus has not scraped the new revision yet: the SLO checks may not count "
            "all of the integration suite's requests"
        )
    report = _run_suite(suite, endpoint, model, choice, options)
    c.log.info(f"integration suite against {endpoint}: passed={report.passed}")
    c.statuses.report(integration_result(model, report))
    event = LedgerEvent(
        kind="deployed",
        model=model,
        env=env.environment,
        version=version,
        digest=digest,
        revision=revision,
        run_id=c.run_id,
        commit_sha=record.commit_sha,
        reason="integration tests passed" if report.passed else "integration tests failed",
        evidence={"passed": report.passed, **suite_numbers(report)},
    )
    c.ledger.promote(
        event, AliasTarget(version=version, digest=digest, revision=revision, run_id=c.run_id)
    )
    c.notifier.notify(event)
    return DeploymentOutcome(
        "deployed",
        record=DeploymentRecord(
            environment=env.environment,
            namespace=env.namespace,
            endpoint=endpoint,
            revision=revision,
            version=version,
            digest=digest,
            commit_sha=registered.commit_sha,
            commit_url=c.statuses.commit_url(registered.commit_sha),
            artifact_uri=record.artifact_uri,
            replicas=status.revisions[0].replicas,
            capacity_warnings="; ".join(status.warnings) or "none",
            deployed_at=time.time(),
            injected_latency_ms=options.inject_latency_ms,
            injected_error_rate=options.inject_error_rate,
            serving=choice,
            metric_profile=profile_for_engine(choice.engine).name,
            suite=report,
        ),
    )
