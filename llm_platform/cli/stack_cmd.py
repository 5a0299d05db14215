"""``llm-platform stack up|down|status``: the embedded control plane on this machine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from llm_platform.cli.options import FormatOption, OutputFormat, table_console
from llm_platform.common.errors import (
    EXIT_FAIL,
    EXIT_OK,
    EXIT_USAGE,
    ConfigurationError,
    PlatformError,
)
from llm_platform.targets.local.stack import (
    DEFAULT_ENVS,
    DEFAULT_GATEWAY_BASE_PORT,
    DEFAULT_PROMETHEUS_PORT,
    StackStatus,
    default_home,
    stack_down,
    stack_status,
    stack_up,
)
from llm_platform.targets.local.supervision import LIVENESS_TIMEOUT_S

stack_app = typer.Typer(
    name="stack", help="Start, stop and inspect the embedded stack.", no_args_is_help=True
)

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="Platform home (default: $LLM_PLATFORM_HOME, else ./.llm-platform).",
        show_default=False,
    ),
]


def _fail(err: Console, exc: PlatformError) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}", highlight=False, markup=True)
    return typer.Exit(EXIT_USAGE if isinstance(exc, ConfigurationError) else EXIT_FAIL)


@stack_app.command("up")
def up(
    home: HomeOption = None,
    env: Annotated[
        list[str] | None,
        typer.Option(
            "--env", help="Environment that gets a gateway (repeatable).", show_default=False
        ),
    ] = None,
    prometheus_port: Annotated[
        int, typer.Option(help="Preferred Prometheus port (0: any free port).")
    ] = DEFAULT_PROMETHEUS_PORT,
    gateway_port: Annotated[
        int, typer.Option(help="Preferred port of the first gateway (0: any free port).")
    ] = DEFAULT_GATEWAY_BASE_PORT,
    scrape_interval: Annotated[str, typer.Option(help="Prometheus scrape interval.")] = "1s",
    liveness_timeout: Annotated[
        float,
        typer.Option(
            min=1.0,
            help="Seconds a server may fail health checks before it is killed and restarted.",
        ),
    ] = LIVENESS_TIMEOUT_S,
) -> None:
    """Start Prometheus, a gateway per environment and the controller (idempotent)."""
    console, err = table_console(), Console(stderr=True)
    root = home or default_home()
    try:
        info = stack_up(
            root,
            envs=env or list(DEFAULT_ENVS),
            prometheus_port=prometheus_port,
            gateway_base_port=gateway_port,
            scrape_interval=scrape_interval,
            liveness_timeout_s=liveness_timeout,
            progress=lambda line: console.print(f"  {line}", highlight=False, markup=False),
        )
    except PlatformError as exc:
        raise _fail(err, exc) from exc
    console.print(f"stack up in {root}", highlight=False)
    console.print(f"  PROMETHEUS_URL={info.prometheus_url}", highlight=False, markup=False)
    for name, url in sorted(info.gateways.items()):
        console.print(f"  gateway {name}: {url}", highlight=False, markup=False)


@stack_app.command("down")
def down(home: HomeOption = None) -> None:
    """Stop every process of the stack by pid; the desired deployments stay on disk."""
    console, err = table_console(), Console(stderr=True)
    root = home or default_home()
    try:
        stopped = stack_down(
            root, progress=lambda line: console.print(f"  {line}", highlight=False, markup=False)
        )
    except PlatformError as exc:
        raise _fail(err, exc) from exc
    console.print(f"stack down in {root} ({len(stopped)} processes stopped)", highlight=False)


def _print_status(console: Console, status: StackStatus) -> None:
    # The home on a line of its own: a table title is wrapped to the table's width.
    console.print(f"stack of {status.home}", highlight=False, markup=False, soft_wrap=True)
    components = Table(title="components", title_justify="left")
    for column in ("component", "pid", "url", "alive"):
        components.add_column(column)
    for c in status.components:
        alive = "[green]yes[/green]" if c.alive else "[red]no[/red]"
        components.add_row(c.name, str(c.pid or "-"), c.url or "-", alive)
    console.print(components)
    deployments = Table(title="deployments", title_justify="left")
    columns = ("env", "model", "revision", "version", "digest", "color", "weight", "healthy")
    for column in (*columns, "restarts", "url"):
        deployments.add_column(column)
    for d in status.deployments:
        for r in d.revisions:
            healthy = "[green]yes[/green]" if r.healthy else "[red]no[/red]"
            weight = f"{r.weight}%" + (" (retiring)" if r.retiring else "")
            deployments.add_row(
                d.env,
                d.model,
                r.revision,
                r.version,
                r.digest[:12],
                r.color,
                weight,
                healthy,
                str(r.restarts),
                r.url or "-",
            )
    console.print(deployments)
    if not status.deployments:
        console.print("no deployments")


@stack_app.command("status")
def status(
    home: HomeOption = None,
    output: FormatOption = OutputFormat.text,
) -> None:
    """Show every component and deployment; exit 1 when something desired is down."""
    console, err = table_console(), Console(stderr=True)
    try:
        result = stack_status(home or default_home())
    except PlatformError as exc:
        raise _fail(err, exc) from exc
    if output is OutputFormat.json:
        payload = {"ok": result.ok, **result.model_dump(mode="json")}
        typer.echo(json.dumps(payload, indent=2))
    else:
        _print_status(console, result)
    raise typer.Exit(EXIT_OK if result.ok else EXIT_FAIL)


def register(app: typer.Typer) -> None:
    """Attach the ``stack`` command group to the main app."""
    app.add_typer(stack_app, name="stack")
