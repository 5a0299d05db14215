"""``llm-platform manifests``: print the Kubernetes manifests the production target would apply.

The revision is built the way the pipeline builds it (revision name from version + digest,
engine from ``serving.engine`` or the artifact's format, replicas from ``autoscaling``) and
rendered by the same pure functions the Kubernetes runtime applies, with the environment and
model settings of the checkout at ``--repo``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from llm_platform.artifact_store import ModelRegistry, RegistryError, StoreError, open_store
from llm_platform.artifact_store.records import files_prefix
from llm_platform.cli.options import (
    EnvOption,
    ModelOption,
    RepoOption,
    fail,
    models_repo_location,
)
from llm_platform.common.digest import digest_directory
from llm_platform.common.errors import EXIT_FAIL, EXIT_USAGE
from llm_platform.common.repo_layout import model_config_path
from llm_platform.config import ConfigError, load_environment, load_model_config
from llm_platform.config.applicability import serving_replicas
from llm_platform.config.schema import ModelConfig
from llm_platform.promotion.revisions import revision_name
from llm_platform.serving.engines import EngineError
from llm_platform.serving.engines.selection import resolve_serving
from llm_platform.settings import Settings
from llm_platform.targets.artifacts import ArtifactCache, ArtifactUnavailable
from llm_platform.targets.base import DeploymentSpec, InvalidDeploymentSpec, RevisionSpec
from llm_platform.targets.kubernetes.context import (
    ArtifactLineage,
    CheckoutPlacements,
    artifact_lineage,
)
from llm_platform.targets.kubernetes.render import render, yaml_stream


def unregistered_preview(
    root: Path, model_cfg: ModelConfig, settings: Settings
) -> tuple[str, str, tuple[str, ...], Path]:
    """What a model not yet registered would deploy, from its ``local`` source: the digest of
    its files (as registration computes it), the artifact URI registration would write, the
    file names, and the local directory (to choose the engine).

    Raises:
        typer.Exit: the source is not a local directory here (s3, huggingface: the digest and
            files come from registration).
    """
    source = model_cfg.source
    if source is None or source.type != "local":
        kind = source.type if source else "no"
        raise fail(
            f"{model_cfg.name} {model_cfg.version}: not registered in "
            f"{settings.artifact_store_uri}, and a {kind} source cannot be previewed from "
            "config alone (its digest and files come from registration): register it first",
            EXIT_USAGE,
        )
    path = Path(source.uri) if Path(source.uri).is_absolute() else root / source.uri
    if not path.exists():
        raise fail(f"{model_cfg.name}: source.uri {source.uri}: no such file or directory")
    manifest = digest_directory(path)
    store = open_store(settings.artifact_store_uri)
    uri = store.key_uri(files_prefix(model_cfg.name, model_cfg.version, manifest.digest))
    return manifest.digest, uri, tuple(f.path for f in manifest.files), path


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
    artifact cannot be served as configured. A model not registered yet is previewed from its
    local source (like ``helm template``: what review would approve)."""
    root = Path(models_repo_location(repo))
    try:
        settings = Settings.from_env()
        env_cfg = load_environment(root, env)
        model_cfg = load_model_config(root / model_config_path(model), repo_root=root)
        record = ModelRegistry(open_store(settings.artifact_store_uri)).get_record(
            model, model_cfg.version, digest
        )
    except (ConfigError, StoreError, RegistryError) as exc:
        raise fail(str(exc), EXIT_USAGE) from exc
    if record is None and digest is not None:
        raise fail(
            f"{model} {model_cfg.version}: no registered artifact with digest {digest} in "
            f"{settings.artifact_store_uri}",
            EXIT_USAGE,
        )
    if record is None:
        preview = unregistered_preview(root, model_cfg, settings)
        served_digest, artifact_uri, files, local = preview
        commit = None
        Console(stderr=True).print(
            f"note: {model} {model_cfg.version} is not registered: previewing from its source "
            f"{model_cfg.source.uri if model_cfg.source else ''} (digest computed here, the "
            "artifact URI registration would write)",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    else:
        served_digest, artifact_uri = record.digest, record.artifact_uri
        try:
            local = ArtifactCache(settings.home / "artifact-cache").resolve(
                model, record.artifact_uri, record.digest
            )
        except ArtifactUnavailable as exc:
            raise fail(
                f"{model} {record.version} ({record.digest[:12]}): {exc}", EXIT_FAIL
            ) from exc
        files, commit = None, None
    try:
        choice = resolve_serving(model_cfg.serving, local)
    except EngineError as exc:
        raise fail(f"{model} {model_cfg.version} ({served_digest[:12]}): {exc}", EXIT_FAIL) from exc
    rev = RevisionSpec(
        revision=revision_name(model_cfg.version, served_digest),
        version=model_cfg.version,
        digest=served_digest,
        artifact_uri=artifact_uri,
        color="blue",
        weight=100,
        replicas=serving_replicas(env_cfg.autoscaling),
        engine=choice.engine,
        context_size=choice.context_size,
        max_batch_size=choice.max_batch_size,
    )
    spec = DeploymentSpec(env=env_cfg.environment, model=model, revisions=[rev])
    try:
        lineage = (
            artifact_lineage(rev) if files is None else ArtifactLineage(files=files, commit=commit)
        )
        placement = CheckoutPlacements(root).placement(env, model, lineage.commit)
        docs = render(spec, placement, {rev.revision: lineage.files})
    except InvalidDeploymentSpec as exc:
        raise fail(str(exc), EXIT_FAIL) from exc
    typer.echo(yaml_stream(docs), nl=False)


def register(app: typer.Typer) -> None:
    """Add the ``manifests`` command to the ``llm-platform`` app."""
    app.command("manifests")(manifests)
