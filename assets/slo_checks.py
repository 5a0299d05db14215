"""SLO asset checks on staging and production deployments (one check per objective).

The checks are declared for every objective of the registry (``llm_platform.slo.objectives``);
a run reports only the objectives the model's effective ``slo:`` configures, so an optional
objective (``ttft_p95_ms``) gets its own blocking result exactly where it is set. Staging
verdicts need the revision to have soaked (``slo.min_soak``); production adds ``slo_recheck``,
the re-check's decision from the window verdicts and the error-budget burn rates
(``llm_platform.slo.recheck``), which the rollback sensor acts on.
"""

from typing import Any

import dagster as dg

from assets.check_history import latest_materialization_metadata
from assets.names import (
    LAYER_SLO,
    PRODUCTION_DEPLOYMENT,
    STAGING_DEPLOYMENT,
    check_ui_metadata,
)
from assets.partitions import models_partitions
from assets.run_inputs import environment_config, model_config_at, validated_config_metadata
from assets.slo_outcomes import check_results, failed_all, not_configured
from llm_platform.config import effective_slo
from llm_platform.config.environments import PRODUCTION, STAGING
from llm_platform.dora.incidents import IncidentAnnouncer
from llm_platform.promotion import Ledger
from llm_platform.promotion.deployment_record import (
    COMMIT_SHA_KEY,
    DIGEST_KEY,
    REVISION_KEY,
    DeploymentRecord,
)
from llm_platform.reporting.commit_status import slo_result, slo_unavailable
from llm_platform.slo import OBJECTIVES, configured
from llm_platform.slo.deployment_check import (
    DeployedRevision,
    DeploymentCheck,
    SLOsUnavailable,
    check_deployed_revision,
)
from llm_platform.slo.deployment_profile import METRIC_PROFILE_KEY
from llm_platform.slo.profiles import PROFILES
from llm_platform.slo.recheck import RECHECK_CHECK
from resources.artifact_store import ArtifactStoreResource
from resources.git_repo import ModelsRepoResource
from resources.github import CommitStatusResource
from resources.notifier import NotifierResource
from resources.prometheus import PrometheusResource


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


def recheck_spec(asset: str) -> dg.AssetCheckSpec:
    """The production re-check's decision (``llm_platform.slo.recheck``), per model."""
    return dg.AssetCheckSpec(
        RECHECK_CHECK,
        asset=asset,
        blocking=False,
        partitions_def=models_partitions,
        description="Production re-check: fails (ERROR) and rolls back when an objective without "
        "an error budget (latency) fails over the window or a budget burns fast (14.4x over 1 h "
        "and 5 m); warns and notifies when a budget burns slowly (6x over 6 h and 30 m). "
        "Burn rates per window and the budget remaining over slo.budget_period are metadata.",
        metadata=check_ui_metadata(LAYER_SLO),
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
            metadata=check_ui_metadata(LAYER_SLO),
        )
        for o in OBJECTIVES
    ]


def _announcer(
    context: dg.AssetCheckExecutionContext,
    deployed: DeploymentRecord,
    *,
    env_name: str,
    notifier: NotifierResource,
    ledger: Ledger | None,
) -> IncidentAnnouncer:
    """Who hears of the verdict on ``deployed``: the notifier, and the ledger when given."""
    return IncidentAnnouncer(
        model=context.partition_key,
        env=env_name,
        version=deployed.version,
        digest=deployed.digest,
        revision=deployed.revision,
        run_id=context.run.run_id,
        notifier=notifier,
        ledger=ledger,
    )


def _report_commit_status(
    context: dg.AssetCheckExecutionContext,
    github: CommitStatusResource | None,
    found: DeploymentCheck | SLOsUnavailable,
    deployed: DeploymentRecord,
) -> None:
    """The verdict (or Prometheus failing) as the status of the deployed commit."""
    commit = deployed.commit_sha
    if github is None or commit is None:
        return
    name = context.partition_key
    status = (
        slo_unavailable(name, found.error)
        if isinstance(found, SLOsUnavailable)
        else slo_result(name, found.verdict)
    )
    github.report(context, status, sha=commit)


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
    meta = latest_materialization_metadata(context.instance, asset, name)
    if meta is None:
        yield from failed_all(asset, f"{name} has no {asset} to check", {})
        return
    try:
        deployed = DeploymentRecord.from_metadata(meta)
    except ValueError as exc:
        yield from failed_all(asset, f"{asset} of {name}: {exc}", {})
        return
    profile = PROFILES[deployed.metric_profile]
    extra: dict[str, Any] = {
        REVISION_KEY: deployed.revision,
        DIGEST_KEY: deployed.digest,
        METRIC_PROFILE_KEY: profile.name,
    }
    sha = str(validated_config_metadata(context, name)[COMMIT_SHA_KEY])
    repo = models_repo.repo()
    env = environment_config(repo, sha, env_name)
    objectives = effective_slo(env, model_config_at(repo, sha, name))
    production = env_name == PRODUCTION
    checks = [o.check_name for o, _ in configured(objectives)]
    # Objectives the model does not set pass as "not configured": never shown as failed.
    yield from not_configured(context, asset, name, env_name, set(checks), extra)
    found = check_deployed_revision(
        lambda: prometheus.client(
            monitoring_namespace=env.monitoring.prometheus_namespace, env=env.environment
        ),
        DeployedRevision(name, env_name, env.namespace, deployed.revision, deployed.deployed_at),
        objectives=objectives,
        profile=profile,
        production=production,
        # Production verdicts are incidents (time to restore); staging ones are only announced.
        announcer=_announcer(
            context,
            deployed,
            env_name=env_name,
            notifier=notifier,
            ledger=Ledger(artifact_store.store()) if production else None,
        ),
        log=context.log,
    )
    _report_commit_status(context, github, found, deployed)
    yield from check_results(asset, found, extra, checks, production=production)


def build_slo_checks(
    asset: str, env_name: str, *, blocking: bool, description: str
) -> dg.AssetChecksDefinition:
    """The per-objective SLO checks of one deployment asset, as one multi-check."""

    @dg.multi_asset_check(
        specs=slo_specs(asset, blocking=blocking)
        + ([recheck_spec(asset)] if env_name == PRODUCTION else []),
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
            github=github if env_name == STAGING else None,
        )

    return _slo_checks


#: Blocking: they gate promotion to production.
staging_slo_checks = build_slo_checks(
    STAGING_DEPLOYMENT,
    STAGING,
    blocking=True,
    description="SLOs of the staging revision from Prometheus; they gate promotion.",
)
#: Not blocking (nothing downstream); a failing ``slo_recheck`` makes the rollback sensor act.
production_slo_checks = build_slo_checks(
    PRODUCTION_DEPLOYMENT,
    PRODUCTION,
    blocking=False,
    description="SLOs of the production revision and its error-budget burn rates; a fast burn "
    "or a failing latency objective triggers an automatic rollback, a slow burn a notification.",
)
