"""``llm-platform slo check``: evaluate one model's SLOs in one environment against Prometheus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from llm_platform.artifact_store.uri import open_store
from llm_platform.cli.options import (
    EnvOption,
    FormatOption,
    ModelOption,
    OutputFormat,
    RepoOption,
    fail,
    models_repo_location,
)
from llm_platform.common.errors import (
    EXIT_FAIL,
    EXIT_INCONCLUSIVE,
    EXIT_OK,
    ConfigurationError,
    PlatformError,
)
from llm_platform.config import (
    ConfigError,
    effective_slo,
    load_environment,
    load_model_config,
    model_config_path,
)
from llm_platform.promotion.ledger import Ledger
from llm_platform.settings import Settings
from llm_platform.slo import PROFILES, PrometheusError, SLOVerdict, evaluate, profile_for_engine
from llm_platform.slo.endpoint import connect, resolve_prometheus_url
from llm_platform.targets.options import TargetOptions
from llm_platform.targets.registry import target_spec

EXIT_BY_VERDICT = {"pass": EXIT_OK, "fail": EXIT_FAIL, "inconclusive": EXIT_INCONCLUSIVE}
#: ``--revision`` value that judges every revision's series together.
ALL_REVISIONS = "all"
_STYLE = {"pass": "green", "fail": "red", "inconclusive": "yellow"}

slo_app = typer.Typer(
    help="Service-level objective checks against Prometheus.", no_args_is_help=True
)


def verdict_json(verdict: SLOVerdict, revision: str | None = None) -> dict[str, object]:
    """The CLI's JSON document for a verdict: exactly these fields, nothing more (``revision``:
    the revision whose series were judged, None for all of the model's revisions)."""
    return {
        "model": verdict.model,
        "env": verdict.env,
        "verdict": verdict.verdict,
        "objectives": [
            {
                "name": r.name,
                "query": r.query,
                "value": r.value,
                "threshold": r.threshold,
                "samples": r.samples,
                "verdict": r.verdict,
                "reason": r.reason,
            }
            for r in verdict.objectives
        ],
        "revision": revision,
    }


def serving_revision(settings: Settings, model: str, env: str) -> str | None:
    """The revision ``env`` serves for ``model`` per the promotion ledger (None: no entry).

    Raises:
        PlatformError: the ledger is unreadable.
    """
    uri = settings.artifact_store_uri
    if ("://" not in uri or uri.startswith("file://")) and not Path(
        uri.removeprefix("file://")
    ).is_dir():
        return None  # no artifact store here: nothing was ever deployed from this home
    target = Ledger(open_store(uri)).serving(model, env)
    return target.revision if target is not None else None


def _print_text(verdict: SLOVerdict, revision: str | None) -> None:
    console = Console()
    covers = f"revision {revision}" if revision else "all revisions"
    table = Table(
        title=f"SLO {verdict.model} in {verdict.env} (namespace {verdict.namespace}, {covers})"
    )
    for column in ("objective", "value", "threshold", "samples", "verdict", "reason"):
        table.add_column(column)
    for r in verdict.objectives:
        style = _STYLE[r.verdict]
        table.add_row(
            r.name,
            "-" if r.value is None else f"{r.value:.6g}",
            f"{r.threshold:g}",
            "-" if r.samples is None else f"{r.samples:.0f}",
            f"[{style}]{r.verdict}[/{style}]",
            r.reason,
        )
    console.print(table)
    style = _STYLE[verdict.verdict]
    console.print(f"[{style}]{verdict.verdict}[/{style}]: {verdict.reason}", highlight=False)


@slo_app.command("check")
def check(
    env: EnvOption,
    model: ModelOption,
    repo: RepoOption = None,
    prometheus: Annotated[
        str | None,
        typer.Option(
            "--prometheus",
            help="Prometheus URL (default: $PROMETHEUS_URL, else on the kubernetes target the "
            "Prometheus Service of the environment's monitoring.prometheus_namespace, else the "
            "running embedded stack of $LLM_PLATFORM_HOME; none of them is an error).",
        ),
    ] = None,
    output: FormatOption = OutputFormat.text,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            help=f"Metric profile: {', '.join(PROFILES)} (default: the one of the model's "
            "serving engine).",
        ),
    ] = None,
    revision: Annotated[
        str | None,
        typer.Option(
            "--revision",
            help="Judge this revision's series (default: the one the environment serves per the "
            f"promotion ledger of ARTIFACT_STORE_URI; '{ALL_REVISIONS}', or no ledger entry: "
            "every revision of the model together).",
        ),
    ] = None,
) -> None:
    """Check a model's SLOs; exit 0 pass, 1 fail, 3 inconclusive, 2 config/Prometheus error."""
    root = Path(models_repo_location(repo))
    if profile is not None and profile not in PROFILES:
        raise fail(f"--profile {profile!r} is not one of {', '.join(PROFILES)}")
    try:
        env_cfg = load_environment(root, env)
        model_cfg = load_model_config(root / model_config_path(model), repo_root=root)
        objectives = effective_slo(env_cfg, model_cfg)
    except ConfigError as exc:
        raise fail(str(exc)) from exc
    metrics = (
        PROFILES[profile]
        if profile is not None
        else profile_for_engine(getattr(model_cfg.serving, "engine", None))
    )
    try:
        settings = Settings.from_env()
    except ConfigurationError as exc:
        raise fail(str(exc)) from exc
    try:
        if revision is None:
            revision = serving_revision(settings, model, env)
    except PlatformError as exc:
        raise fail(f"{exc} (--revision {ALL_REVISIONS} judges every revision)") from exc
    except OSError as exc:  # e.g. an object store that cannot be reached
        raise fail(f"promotion ledger: {exc}") from exc
    if revision == ALL_REVISIONS:
        revision = None
    discovery = target_spec(settings.target).discover_prometheus
    discover = (
        None
        if discovery is None
        else discovery(
            env_cfg.monitoring.prometheus_namespace,
            env_cfg.environment,
            TargetOptions(kubeconfigs=settings.kubeconfigs),
        )
    )
    try:
        url = resolve_prometheus_url(prometheus, discover=discover)
        with connect(url, timeout=30.0) as client:
            verdict = evaluate(
                client,
                model=model,
                namespace=env_cfg.namespace,
                objectives=objectives,
                profile=metrics,
                extra_labels={"revision": revision} if revision else None,
                env=env,
            )
    except PrometheusError as exc:
        raise fail(str(exc)) from exc
    if output is OutputFormat.json:
        typer.echo(json.dumps(verdict_json(verdict, revision), indent=2))
    else:
        _print_text(verdict, revision)
    raise typer.Exit(EXIT_BY_VERDICT[verdict.verdict])


def register(app: typer.Typer) -> None:
    """Add the ``slo`` command group (``slo check``) to the ``llm-platform`` app."""
    app.add_typer(slo_app, name="slo")
