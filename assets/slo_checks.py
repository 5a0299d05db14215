"""SLO asset checks on staging and production deployments (one check per objective).

The checks are declared for every objective of the registry (``llm_platform.slo.objectives``);
a run reports only the objectives the model's effective ``slo:`` configures, so an optional
objective (``ttft_p95_ms``) gets its own blocking result exactly where it is set.
"""

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from assets.check_history import latest_materialization_metadata
from assets.commit import environment_config, model_config_at, validated_config_metadata
from assets.incidents import announce_verdict
from assets.names import (
    PRODUCTION_DEPLOYMENT,
    PRODUCTION_ENV,
    SLO_CHECKS,
    STAGING_DEPLOYMENT,
    STAGING_ENV,
)
from assets.partitions import models_partitions
from llm_platform.config import effective_slo
from llm_platform.gitops.commit_status import slo_result, slo_unavailable
from llm_platform.promotion import Ledger, LedgerEvent
from llm_platform.slo import OBJECTIVES, PrometheusError, SLOVerdict, configured, evaluate
from llm_platform.slo.deployment_profile import METRIC_PROFILE_KEY, metric_profile_for
from resources.artifact_store import ArtifactStoreResource
from resources.git_repo import ModelsRepoResource
from resources.github import CommitStatusResource
from resources.notifier import NotifierResource
from resources.prometheus import PrometheusResource

#: A deployment younger than this may not have been scraped yet: wait for the data to settle.
SETTLE_AFTER_DEPLOY_S = 120.0
SETTLE_TIMEOUT_S = 20.0
SETTLE_POLL_S = 2.0

#: Checks reported when the model's objectives cannot be read: those every model has.
_ALWAYS = tuple(o.check_name for o in OBJECTIVES if o.default is not None)


def staging_checks_passed() -> dg.AutomationCondition:
    """``all_deps_blocking_checks_passed()``, except for optional objectives' checks.

    A check of an optional objective (``ttft_p95_ms``) never runs for a model that does not
    configure it, so "passed" would block that model forever; such a check must only not have
    failed against the latest deploy. The checks of every model are evaluated in one step, so a
    configured optional check has run (passed or failed) whenever the others have passed.
    """
    optional = dg.AssetSelection.checks(
        *(
            dg.AssetCheckKey(dg.AssetKey(STAGING_DEPLOYMENT), o.check_name)
            for o in OBJECTIVES
            if o.default is None
        )
    )
    passed = dg.AutomationCondition.all_checks_match(
        dg.AutomationCondition.check_passed() | dg.AutomationCondition.will_be_requested(),
        blocking_only=True,
    ).ignore(optional)
    not_failed = dg.AutomationCondition.all_checks_match(
        ~dg.AutomationCondition.check_failed(), blocking_only=True
    ).allow(optional)
    return dg.AutomationCondition.all_deps_match(passed & not_failed).with_label(
        "all_deps_blocking_checks_passed"
    )


def slo_specs(asset: str, *, blocking: bool) -> list[dg.AssetCheckSpec]:
    """One check per objective of the SLO registry on ``asset``, per model partition."""
    return [
        dg.AssetCheckSpec(
            o.check_name,
            asset=asset,
            blocking=blocking,
            partitions_def=models_partitions,
            description=o.description
            + ("" if o.default is not None else f" Only for models whose slo: sets {o.key}.")
            + " No data or too little traffic is inconclusive and fails the check.",
        )
        for o in OBJECTIVES
    ]


def _results(asset: str, verdict: SLOVerdict, extra: dict[str, Any]):
    for obj in verdict.objectives:
        meta: dict[str, Any] = {
            "verdict": obj.verdict,
            "threshold": obj.threshold,
            "window": obj.window,
            "query": dg.MetadataValue.md(f"```promql\n{obj.query}\n```"),
            **extra,
        }
        if obj.value is not None:
            meta["value"] = obj.value
        if obj.samples is not None:
            meta["samples"] = obj.samples
        yield dg.AssetCheckResult(
            asset_key=asset,
            check_name=SLO_CHECKS[obj.name],
            passed=obj.verdict == "pass",
            description=obj.reason,
            metadata=meta,
        )


def _failed_all(asset: str, reason: str, extra: dict[str, Any], checks: Sequence[str] = _ALWAYS):
    for check in checks:
        yield dg.AssetCheckResult(
            asset_key=asset,
            check_name=check,
            passed=False,
            description=reason,
            metadata={"verdict": "error", **extra},
        )


def run_slo_checks(
    context: dg.AssetCheckExecutionContext,
    *,
    asset: str,
    env_name: str,
    models_repo: ModelsRepoResource,
    prometheus: PrometheusResource,
    notifier: NotifierResource,
    artifact_store: ArtifactStoreResource,
    github: CommitStatusResource | None = None,
):
    """Evaluate the SLOs of the revision that ``asset`` last deployed for this partition.

    Staging verdicts are reported to the deployed commit's ``llm-platform/staging/<model>``."""
    name = context.partition_key
    deployed = latest_materialization_metadata(context.instance, asset, name)
    if deployed is None:
        yield from _failed_all(asset, f"{name} has no {asset} to check", {})
        return
    revision = str(deployed.get("revision", ""))
    extra: dict[str, Any] = {"revision": revision, "digest": str(deployed.get("digest", ""))}
    try:
        profile = metric_profile_for(deployed)
    except ValueError as exc:
        yield from _failed_all(asset, f"{asset} of {name}: {exc}", extra)
        return
    extra[METRIC_PROFILE_KEY] = profile.name
    sha = str(validated_config_metadata(context, name)["commit_sha"])
    repo = models_repo.repo()
    env = environment_config(repo, sha, env_name)
    model = model_config_at(repo, sha, name)
    objectives = effective_slo(env, model)
    checks = [o.check_name for o, _ in configured(objectives)]
    deployed_at = float(deployed.get("deployed_at_unix", 0.0) or 0.0)
    settle_until = time.monotonic() + (
        SETTLE_TIMEOUT_S if time.time() - deployed_at < SETTLE_AFTER_DEPLOY_S else 0.0
    )
    try:
        with prometheus.client(monitoring_namespace=env.monitoring.prometheus_namespace) as client:
            while True:
                verdict = evaluate(
                    client,
                    model=name,
                    namespace=env.namespace,
                    objectives=objectives,
                    profile=profile,
                    extra_labels={"revision": revision} if revision else None,
                    at=datetime.now(UTC),
                    env=env_name,
                )
                if verdict.verdict != "inconclusive" or time.monotonic() >= settle_until:
                    break
                time.sleep(SETTLE_POLL_S)
    except PrometheusError as exc:
        context.log.error(f"SLO check of {name} in {env_name}: {exc}")
        if github is not None and deployed.get("commit_sha"):
            github.report(context, slo_unavailable(name, exc), sha=str(deployed["commit_sha"]))
        yield from _failed_all(asset, f"Prometheus error (gate held): {exc}", extra, checks)
        return
    context.log.info(f"SLO verdict for {name} in {env_name}: {verdict.verdict}: {verdict.reason}")
    if github is not None and deployed.get("commit_sha"):
        github.report(context, slo_result(name, verdict), sha=str(deployed["commit_sha"]))
    announce_verdict(
        verdict.verdict,
        LedgerEvent(
            kind="check_failed",
            model=name,
            env=env_name,
            version=str(deployed.get("version", "")) or None,
            digest=str(extra["digest"]) or None,
            revision=revision or None,
            run_id=context.run.run_id,
            reason=verdict.reason,
        ),
        notifier=notifier,
        # Production verdicts are incidents (time to restore); staging ones are only announced.
        ledger=Ledger(artifact_store.store()) if env_name == PRODUCTION_ENV else None,
    )
    yield from _results(asset, verdict, extra)


def build_slo_checks(
    asset: str, env_name: str, *, blocking: bool, description: str
) -> dg.AssetChecksDefinition:
    """The per-objective SLO checks of one deployment asset, as one multi-check."""

    @dg.multi_asset_check(
        specs=slo_specs(asset, blocking=blocking),
        name=f"{env_name}_slo_checks",
        description=description,
        can_subset=True,  # an objective the model does not configure yields no result
    )
    def _slo_checks(
        context: dg.AssetCheckExecutionContext,
        models_repo: ModelsRepoResource,
        prometheus: PrometheusResource,
        notifier: NotifierResource,
        artifact_store: ArtifactStoreResource,
        github: CommitStatusResource,
    ):
        yield from run_slo_checks(
            context,
            asset=asset,
            env_name=env_name,
            models_repo=models_repo,
            prometheus=prometheus,
            notifier=notifier,
            artifact_store=artifact_store,
            github=github if env_name == STAGING_ENV else None,
        )

    return _slo_checks


#: Blocking: they gate promotion to production.
staging_slo_checks = build_slo_checks(
    STAGING_DEPLOYMENT,
    STAGING_ENV,
    blocking=True,
    description="SLOs of the staging revision from Prometheus; they gate promotion.",
)
#: Not blocking (nothing downstream); a FAILED verdict makes the rollback sensor act.
production_slo_checks = build_slo_checks(
    PRODUCTION_DEPLOYMENT,
    PRODUCTION_ENV,
    blocking=False,
    description="SLOs of the production revision; a failure triggers an automatic rollback.",
)
