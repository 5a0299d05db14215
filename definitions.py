"""Composition root: the one ``dagster.Definitions`` of llm-platform.

Settings come from environment variables when the code location loads (never at import of any
other module); the resource set for the target is chosen here, once.
"""

from __future__ import annotations

import functools
import inspect
import os
import warnings
from collections.abc import Callable, Sequence
from typing import cast

import dagster as dg
from dagster_aws.s3 import S3Resource

from assets.delivery_metrics import delivery_metrics
from assets.jobs import model_job, production_job, slo_checks_job
from assets.k8s_executor import k8s_executor
from assets.model_config import model_config
from assets.production import production_deployment
from assets.quality import output_quality
from assets.recheck_record import fleet_recheck
from assets.registered_model import registered_model
from assets.slo_checks import production_slo_checks, staging_slo_checks
from assets.staging import staging_deployment
from llm_platform.reporting.commit_status_settings import GITHUB_TOKEN_ENV
from llm_platform.reporting.routes import GLOBAL_WEBHOOK_ENV
from llm_platform.settings import (
    KFP_ENDPOINT_ENV,
    KFP_TOKEN_ENV,
    PROMETHEUS_BEARER_TOKEN_ENV,
    PROMETHEUS_HEADERS_ENV,
    PROMETHEUS_URL_ENV,
    Settings,
)
from llm_platform.targets.registry import target_spec
from resources.artifact_store import (
    ArtifactStoreResource,
    LocalArtifactStore,
    S3ArtifactStore,
)
from resources.capacity import CAPACITY_RESOURCES, CapacityResource
from resources.git_repo import ModelsRepoResource
from resources.github import CommitStatusResource
from resources.notifier import NotifierResource
from resources.prometheus import PrometheusResource
from resources.registrar import (
    LocalKfpRegistrarResource,
    RegistrarResource,
    RemoteKfpRegistrarResource,
)
from resources.runtime import RUNTIME_RESOURCES, RuntimeResource
from sensors.delivery import delivery_metrics_automation
from sensors.git_push import git_push_sensor
from sensors.promotion import production_rollback_sensor, promotion_automation
from sensors.run_failure import run_failure_sensor
from sensors.schedules import build_slo_recheck_schedule
from sensors.slo_rules import slo_rules_sensor


def artifact_store_for(settings: Settings) -> ArtifactStoreResource:
    """A local directory, or S3 through dagster-aws when the URI is ``s3://bucket/prefix``."""
    uri = settings.artifact_store_uri
    if uri.startswith("s3://"):
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        return S3ArtifactStore(s3=S3Resource(), bucket=bucket, prefix=prefix.strip("/"))
    return LocalArtifactStore(root=uri.removeprefix("file://"))


def registrar_for(settings: Settings) -> RegistrarResource:
    """kfp.local unless a Kubeflow endpoint is configured (secrets via dg.EnvVar only)."""
    if settings.kfp_endpoint:
        return RemoteKfpRegistrarResource(
            endpoint=dg.EnvVar(KFP_ENDPOINT_ENV),
            token=dg.EnvVar(KFP_TOKEN_ENV) if settings.kfp_token_set else None,
            image=settings.platform_image,
            max_artifact_bytes=settings.max_artifact_bytes,
        )
    return LocalKfpRegistrarResource(
        pipeline_root=str(settings.home / "kfp"),
        allowed_source_paths=[str(p) for p in settings.allowed_source_paths],
        max_artifact_bytes=settings.max_artifact_bytes,
    )


def capacity_for(settings: Settings) -> CapacityResource:
    """The production gate's capacity check for the target (the cluster's nodes and pods on
    Kubernetes, through the pod's service account or ``KUBECONFIG``)."""
    return CAPACITY_RESOURCES[settings.target].for_settings(settings)


#: The metadata key under which Dagster keeps an asset's code references.
CODE_REFERENCES_KEY = "dagster/code_references"


def with_kinds(asset: dg.AssetsDefinition, *kinds: str) -> dg.AssetsDefinition:
    """``asset`` with ``kinds`` added to its kind tags (what really runs it on this target)."""
    return asset.map_asset_specs(lambda spec: spec.merge_attributes(kinds=set(kinds)))


def _body(asset: dg.AssetsDefinition) -> Callable[..., object] | None:
    """The function an asset's op runs, through decorators such as ``reports_commit_status``."""
    compute = getattr(asset.node_def, "compute_fn", None)
    fn = getattr(compute, "decorated_fn", compute)
    return inspect.unwrap(fn) if callable(fn) else None


def _refer(reference: dg.LocalFileCodeReference, spec: dg.AssetSpec) -> dg.AssetSpec:
    """``spec`` with ``reference`` as its only code reference."""
    references = dg.CodeReferencesMetadataValue(code_references=[reference])
    return spec.replace_attributes(metadata={**spec.metadata, CODE_REFERENCES_KEY: references})


def with_code_references(assets: Sequence[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """``assets`` with a UI link to the file and line of each asset's body.

    ``dg.with_source_code_references`` attaches the references; it reads the file of the
    function the op calls, which for a body wrapped with ``functools.wraps`` is the wrapper's
    module, so the file is re-pointed at the unwrapped body's (the line is already the body's).
    """
    with warnings.catch_warnings():  # code references are beta in Dagster 1.13
        warnings.simplefilter("ignore", dg.BetaWarning)
        return _repoint(
            cast("list[dg.AssetsDefinition]", dg.with_source_code_references(list(assets)))
        )


def _repoint(linked: list[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    fixed: list[dg.AssetsDefinition] = []
    for asset in linked:
        body = _body(asset)
        source = inspect.getsourcefile(body) if body is not None else None
        if body is None or source is None:
            fixed.append(asset)
            continue
        reference = dg.LocalFileCodeReference(
            file_path=os.path.abspath(source), line_number=inspect.getsourcelines(body)[1]
        )
        fixed.append(asset.map_asset_specs(functools.partial(_refer, reference)))
    return fixed


def assets_for(settings: Settings) -> list[dg.AssetsDefinition]:
    """The assets, tagged with the kinds of the configured target and artifact store, each
    linked to its source code."""
    target = target_spec(settings.target).runs_as
    store = ["s3"] if settings.artifact_store_uri.startswith("s3://") else []
    return with_code_references(
        [
            model_config,
            with_kinds(registered_model, *store),
            with_kinds(staging_deployment, target),
            with_kinds(production_deployment, target),
            delivery_metrics,
        ]
    )


def commit_status_for(settings: Settings) -> CommitStatusResource:
    """Commit statuses on GitHub: on when GITHUB_TOKEN is set (read through dg.EnvVar only)."""
    return CommitStatusResource(
        token=dg.EnvVar(GITHUB_TOKEN_ENV) if settings.github_token_set else None,
        api_url=settings.github_api_url,
        repository=settings.github_repository,
        models_repo=settings.models_repo,
        dagster_url=settings.dagster_url,
    )


def notifier_for(settings: Settings, models_repo: ModelsRepoResource) -> NotifierResource:
    """Global and per-environment Slack webhooks, each through dg.EnvVar (names in the UI)."""
    return NotifierResource(
        slack_webhook_url=dg.EnvVar(GLOBAL_WEBHOOK_ENV) if settings.slack_webhook_set else None,
        environment_webhooks={n: dg.EnvVar(n) for n in settings.environment_webhook_vars},
        models_repo=models_repo.location,
        models_branch=models_repo.branch,
        git_cache_dir=models_repo.cache_dir,
        dagster_url=settings.dagster_url,
    )


def runtime_for(settings: Settings) -> RuntimeResource:
    """The runtime of ``LLM_PLATFORM_TARGET``: local processes, or the cluster."""
    return RUNTIME_RESOURCES[settings.target].for_settings(settings)


def build_resources(settings: Settings) -> dict[str, object]:
    """The resources for the configured target."""
    models_repo = ModelsRepoResource(
        location=settings.models_repo,
        branch=settings.models_branch,
        cache_dir=str(settings.git_cache_dir),
        trusted_signers=str(settings.trusted_signers) if settings.trusted_signers else None,
    )
    return {
        "github": commit_status_for(settings),
        "models_repo": models_repo,
        "artifact_store": artifact_store_for(settings),
        "registrar": registrar_for(settings),
        "runtime": runtime_for(settings),
        "prometheus": PrometheusResource(
            url=dg.EnvVar(PROMETHEUS_URL_ENV) if settings.prometheus_url else None,
            home=str(settings.home),
            bearer_token=dg.EnvVar(PROMETHEUS_BEARER_TOKEN_ENV)
            if settings.prometheus_bearer_token_set
            else None,
            headers_json=dg.EnvVar(PROMETHEUS_HEADERS_ENV)
            if settings.prometheus_headers_set
            else None,
            target=settings.target,
            kubeconfigs=settings.kubeconfigs,
        ),
        "notifier": notifier_for(settings, models_repo),
        "capacity": capacity_for(settings),
    }


def build_defs(settings: Settings) -> dg.Definitions:
    """All assets, checks, jobs, sensors and resources for ``settings``."""
    resources = build_resources(settings)
    return dg.Definitions(
        executor=k8s_executor() if settings.executor == "k8s_job" else None,
        assets=assets_for(settings),
        asset_checks=[output_quality, staging_slo_checks, production_slo_checks, fleet_recheck],
        jobs=[model_job, production_job, slo_checks_job],
        sensors=[
            git_push_sensor,
            promotion_automation,
            production_rollback_sensor,
            slo_rules_sensor,
            run_failure_sensor,
            delivery_metrics_automation,
        ],
        schedules=[build_slo_recheck_schedule(settings.slo_recheck_cron)],
        resources=resources,
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded by ``dagster dev`` / ``dg``: settings from the environment (README.md)."""
    return build_defs(Settings.from_env())
