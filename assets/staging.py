"""The ``staging_deployment`` asset: the registered digest serving in staging, tested."""

import hashlib
import time
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from assets.check_history import latest_materialization_metadata
from assets.names import (
    CHECK_INTEGRATION_TESTS,
    LAYER_DEPLOYMENT,
    OWNERS,
    REGISTERED_MODEL,
    STAGING_DEPLOYMENT,
    STAGING_ENV,
    asset_tags,
    check_ui_metadata,
)
from assets.partitions import models_partitions
from assets.run_inputs import environment_config, model_config_at, validated_config_metadata
from llm_platform.common.ui_numbers import round_ms, round_ratio
from llm_platform.config.applicability import serving_replicas
from llm_platform.endpoint_tests import SuiteReport, run_suite
from llm_platform.promotion import AliasTarget, Ledger, LedgerEvent
from llm_platform.promotion.revisions import revision_name
from llm_platform.reporting.commit_status import Stage, integration_result
from llm_platform.serving.engines import EngineError
from llm_platform.serving.engines.selection import resolve_serving, streams_through_gateway
from llm_platform.slo import PrometheusError, profile_for_engine
from llm_platform.slo.deployment_profile import METRIC_PROFILE_KEY
from llm_platform.targets.artifacts import ArtifactUnavailable
from llm_platform.targets.base import (
    DeploymentNotReady,
    DeploymentSpec,
    EngineRefused,
    RevisionSpec,
)
from resources.artifact_store import ArtifactStoreResource
from resources.git_repo import ModelsRepoResource
from resources.github import CommitStatusResource
from resources.github_stage import reports_commit_status
from resources.notifier import NotifierResource
from resources.prometheus import PrometheusResource
from resources.runtime import RuntimeResource


class StagingConfig(dg.Config):
    """Launch options for a staging deployment (fault injection is for demos and drills)."""

    ready_timeout_s: float = 90.0
    load_requests: int = 60
    load_concurrency: int = 8
    min_success_rate: float = 0.8
    inject_latency_ms: float = 0.0
    inject_error_rate: float = 0.0
    #: Longest wait for Prometheus to scrape the new revision's zero-valued series before the
    #: suite's traffic, so that every test request counts towards the SLO sample count.
    settle_before_load_s: float = 20.0


def fault_variant(config: StagingConfig) -> str:
    """The revision-name variant of injected faults ("" without faults).

    Injected faults get their own revision so that a faulty and a clean deployment of one
    digest never share a process or a metrics series.
    """
    if not (config.inject_latency_ms or config.inject_error_rate):
        return ""
    fault = f"{config.inject_latency_ms}:{config.inject_error_rate}".encode()
    return "f" + hashlib.sha256(fault).hexdigest()[:6]


def wait_for_series(
    prometheus: PrometheusResource, selector: str, *, timeout_s: float, monitoring_namespace: str
) -> bool:
    """Wait until Prometheus holds a sample of ``selector`` (False at the timeout, or when no
    Prometheus is reachable: the SLO checks then report the problem themselves)."""
    deadline = time.monotonic() + timeout_s
    try:
        with prometheus.client(
            monitoring_namespace=monitoring_namespace, env=STAGING_ENV
        ) as client:
            while not client.query(selector, at=datetime.now(UTC)):
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.5)
    except PrometheusError:
        return False
    return True


def suite_metadata(report: SuiteReport) -> dict[str, Any]:
    """Numeric results (plotted by the UI) and a readable table of the integration suite."""
    rows = "\n".join(
        f"| {t.name} | {'pass' if t.passed else 'FAIL'} | {t.detail} |" for t in report.tests
    )
    meta: dict[str, Any] = {
        "tests_passed": sum(t.passed for t in report.tests),
        "tests_total": len(report.tests),
        "tests": dg.MetadataValue.md("| test | result | detail |\n|---|---|---|\n" + rows),
    }
    if report.load is not None:
        meta.update(
            {
                "load_requests": report.load.requests,
                "load_success_rate": round_ratio(report.load.success_rate),
                "load_p50_ms": round_ms(report.load.p50_ms)
                if report.load.p50_ms is not None
                else -1.0,
                "load_p95_ms": round_ms(report.load.p95_ms)
                if report.load.p95_ms is not None
                else -1.0,
                "load_rps": round_ratio(report.load.rps),
            }
        )
    return meta


@dg.asset(
    name=STAGING_DEPLOYMENT,
    partitions_def=models_partitions,
    deps=[REGISTERED_MODEL],
    group_name="deployments",
    owners=OWNERS,
    tags=asset_tags(LAYER_DEPLOYMENT, STAGING_ENV),
    kinds={"prometheus"},  # plus the target's kind, added by the composition root
    check_specs=[
        dg.AssetCheckSpec(
            CHECK_INTEGRATION_TESTS,
            asset=STAGING_DEPLOYMENT,
            blocking=True,
            partitions_def=models_partitions,
            description="Health, an OpenAI-shaped completion with generated text, and concurrent "
            "load through the staging gateway (success rate >= the configured minimum).",
            metadata=check_ui_metadata(LAYER_DEPLOYMENT),
        )
    ],
)
@reports_commit_status(Stage.staging)
def staging_deployment(
    context: dg.AssetExecutionContext,
    config: StagingConfig,
    models_repo: ModelsRepoResource,
    artifact_store: ArtifactStoreResource,
    runtime: RuntimeResource,
    notifier: NotifierResource,
    prometheus: PrometheusResource,
    github: CommitStatusResource,
) -> dg.MaterializeResult:
    """The exact registered digest deployed to staging, ready, and integration-tested.

    Deploys the digest recorded by ``registered_model`` (verified when fetched), waits until it
    serves through the staging gateway, then runs the integration suite against
    ``<gateway>/<model>`` (with streaming and chat tests when the engine supports them). The
    engine is ``serving.engine`` from ``model.yaml``, else chosen from the artifact's format.
    If the new revision never becomes ready the previous one keeps
    serving and the run fails with the tail of the server's log.
    """
    name = context.partition_key
    reg = latest_materialization_metadata(context.instance, REGISTERED_MODEL, name)
    if reg is None:
        raise dg.Failure(description=f"model {name!r}: {REGISTERED_MODEL} was never materialized")
    digest, version = str(reg["digest"]), str(reg["version"])
    github.start(context, Stage.staging, name, str(reg["commit_sha"]))
    cfg_meta = validated_config_metadata(context, name)
    repo, sha = models_repo.repo(), str(cfg_meta["commit_sha"])
    env = environment_config(repo, sha, STAGING_ENV)
    registry = artifact_store.registry()
    record = registry.get_record(name, version, digest)
    if record is None:
        raise dg.Failure(description=f"no registry record for {name} {version} {digest[:12]}")
    try:
        choice = resolve_serving(
            model_config_at(repo, sha, name).serving,
            runtime.local_artifact(name, record.artifact_uri, digest),
        )
    except (EngineError, ArtifactUnavailable) as exc:
        raise dg.Failure(description=f"{name} {version} ({digest[:12]}): {exc}") from exc
    engine = choice.spec
    rt = runtime.runtime()
    previous = rt.desired_spec(env.environment, name)
    revision = revision_name(version, digest, variant=fault_variant(config))
    spec = DeploymentSpec(
        env=env.environment,
        model=name,
        revisions=[
            RevisionSpec(
                revision=revision,
                version=version,
                digest=digest,
                artifact_uri=record.artifact_uri,
                replicas=serving_replicas(env.autoscaling),
                color="blue",
                weight=100,
                latency_ms=config.inject_latency_ms,
                error_rate=config.inject_error_rate,
                engine=choice.engine,
                context_size=choice.context_size,
                max_batch_size=choice.max_batch_size,
                extensions=env.serving.extensions,
            )
        ],
    )
    try:
        rt.apply(spec)
    except EngineRefused as exc:  # refused before anything changed
        raise dg.Failure(
            description=f"{name} {version} ({digest[:12]}) not deployed to {env.environment}: "
            f"{exc}; "
            + ("the previous revision keeps serving" if previous else "nothing was serving")
        ) from exc
    try:
        status = rt.wait_ready(env.environment, name, timeout_s=config.ready_timeout_s)
    except DeploymentNotReady as exc:
        if previous is not None and previous.revisions != spec.revisions:
            rt.apply(previous)  # the previous revision keeps (and stays) serving
        else:
            rt.delete(env.environment, name)
        raise dg.Failure(
            description=f"{name} {version} ({digest[:12]}) did not become ready in "
            f"{env.environment}; "
            + ("the previous revision keeps serving" if previous else "nothing was serving"),
            metadata={"server_log_tail": dg.MetadataValue.md(f"```\n{exc}\n```")},
        ) from exc
    endpoint = status.endpoint or ""
    seen = wait_for_series(
        prometheus,
        f'llm_requests_total{{namespace="{env.namespace}",model="{name}",revision="{revision}"}}',
        timeout_s=config.settle_before_load_s,
        monitoring_namespace=env.monitoring.prometheus_namespace,
    )
    if not seen:
        context.log.warning(
            "Prometheus has not scraped the new revision yet: the SLO checks may not count "
            "all of the integration suite's requests"
        )
    report = run_suite(
        endpoint,
        model=name,
        requests=config.load_requests,
        concurrency=config.load_concurrency,
        min_success_rate=config.min_success_rate,
        health_path=engine.readiness_path,
        stream=streams_through_gateway(engine),
        chat=engine.supports_chat,
    )
    context.log.info(f"integration suite against {endpoint}: passed={report.passed}")
    meta = suite_metadata(report)
    github.report(context, integration_result(name, report))
    event = LedgerEvent(
        kind="deployed",
        model=name,
        env=env.environment,
        version=version,
        digest=digest,
        revision=revision,
        run_id=context.run_id,
        commit_sha=record.commit_sha,
        reason="integration tests passed" if report.passed else "integration tests failed",
        evidence={"passed": report.passed, **{k: v for k, v in meta.items() if k != "tests"}},
    )
    Ledger(artifact_store.store()).promote(
        event, AliasTarget(version=version, digest=digest, revision=revision, run_id=context.run_id)
    )
    notifier.notify(event)
    return dg.MaterializeResult(
        metadata={
            "environment": env.environment,
            "namespace": env.namespace,
            "endpoint": dg.MetadataValue.url(endpoint),
            "revision": revision,
            "version": version,
            "digest": digest,
            "commit_sha": str(reg["commit_sha"]),
            **github.commit_link_metadata(str(reg["commit_sha"])),
            "artifact_uri": record.artifact_uri,
            "replicas": status.revisions[0].replicas,
            "capacity_warnings": "; ".join(status.warnings) or "none",
            "deployed_at_unix": dg.MetadataValue.timestamp(time.time()),
            "injected_latency_ms": config.inject_latency_ms,
            "injected_error_rate": config.inject_error_rate,
            **choice.metadata(),
            METRIC_PROFILE_KEY: profile_for_engine(choice.engine).name,
            **meta,
        },
        data_version=dg.DataVersion(f"{digest}:{revision}"),
        check_results=[
            dg.AssetCheckResult(
                check_name=CHECK_INTEGRATION_TESTS,
                passed=report.passed,
                description=None
                if report.passed
                else "; ".join(f"{t.name}: {t.detail}" for t in report.tests if not t.passed)[
                    :2000
                ],
                metadata={k: v for k, v in meta.items() if isinstance(v, (int, float))},
            )
        ],
    )
