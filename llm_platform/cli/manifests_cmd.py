"""``llm-platform manifests``: print the Kubernetes manifests the production target would apply.

The revision is built the way the pipeline builds it (revision name from version + digest,
engine from ``serving.engine`` or the artifact's format, replicas from ``autoscaling``) and
rendered by the same pure functions the Kubernetes runtime applies, with the environment and
model settings of the checkout at ``--repo``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from llm_platform.cli.options import EnvOption, ModelOption, RepoOption, fail
from llm_platform.config import ConfigError, load_environment, load_model_config
from llm_platform.config.applicability import serving_replicas
from llm_platform.errors import EXIT_FAIL, EXIT_USAGE
from llm_platform.kubernetes.context import CheckoutPlacements, artifact_lineage
from llm_platform.kubernetes.render import render, yaml_stream
from llm_platform.promotion.revisions import revision_name
from llm_platform.registry import ModelRegistry, RegistryError, StoreError, open_store
from llm_platform.repo_layout import model_config_path
from llm_platform.runtime.artifacts import ArtifactCache, ArtifactUnavailable
from llm_platform.runtime.base import DeploymentSpec, InvalidDeploymentSpec, RevisionSpec
from llm_platform.serving.engines import EngineError
from llm_platform.serving.engines.selection import resolve_serving
from llm_platform.settings import Settings


def manifests(
    env: EnvOption,
    model: ModelOption,
    repo: RepoOption = None,
    digest: Annotated[
        str | None,
        typer.Option(
            "--digest",
            help="Registered artifact digest (default: the latest registration of the model's "
            "version in $ARTIFACT_STORE_URI).",
        ),
    ] = None,
) -> None:
    """Print the manifests as a YAML stream; exit 2 on configuration errors, 1 when the
    artifact cannot be served as configured."""
    root = repo or Path(os.environ.get("LLM_PLATFORM_MODELS_REPO") or ".")
    try:
        settings = Settings.from_env()
        env_cfg = load_environment(root, env)
        model_cfg = load_model_config(root / model_config_path(model), repo_root=root)
        record = ModelRegistry(open_store(settings.artifact_store_uri)).get_record(
            model, model_cfg.version, digest
        )
    except (ConfigError, StoreError, RegistryError) as exc:
        raise fail(str(exc), EXIT_USAGE) from exc
    if record is None:
        which = f"digest {digest}" if digest else "any digest"
        raise fail(
            f"{model} {model_cfg.version}: no registered artifact ({which}) in "
            f"{settings.artifact_store_uri}; register it first or pass --digest",
            EXIT_USAGE,
        )
    try:
        local = ArtifactCache(settings.home / "artifact-cache").resolve(
            model, record.artifact_uri, record.digest
        )
        choice = resolve_serving(model_cfg.serving, local)
    except (ArtifactUnavailable, EngineError) as exc:
        raise fail(f"{model} {record.version} ({record.digest[:12]}): {exc}", EXIT_FAIL) from exc
    rev = RevisionSpec(
        revision=revision_name(record.version, record.digest),
        version=record.version,
        digest=record.digest,
        artifact_uri=record.artifact_uri,
        color="blue",
        weight=100,
        replicas=serving_replicas(env_cfg.autoscaling),
        engine=choice.engine,
        context_size=choice.context_size,
        max_batch_size=choice.max_batch_size,
    )
    spec = DeploymentSpec(env=env_cfg.environment, model=model, revisions=[rev])
    try:
        lineage = artifact_lineage(rev)
        placement = CheckoutPlacements(root).placement(env, model, lineage.commit)
        docs = render(spec, placement, {rev.revision: lineage.files})
    except InvalidDeploymentSpec as exc:
        raise fail(str(exc), EXIT_FAIL) from exc
    typer.echo(yaml_stream(docs), nl=False)


def register(app: typer.Typer) -> None:
    """Add the ``manifests`` command to the ``llm-platform`` app."""
    app.command("manifests")(manifests)
