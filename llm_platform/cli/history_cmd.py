"""``llm-platform history MODEL``: what each environment serves, and the promotion history.

Exit codes: 0 history shown; 1 the ledger holds nothing for the model (so scripts can tell
"never deployed" from an empty table); 2 bad arguments, a bad store URI or an unreachable or
corrupt store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from llm_platform.artifact_store.store import ObjectStore
from llm_platform.artifact_store.uri import open_store
from llm_platform.cli.options import FormatOption, OutputFormat, fail, table_console
from llm_platform.common.errors import EXIT_FAIL, EXIT_OK, PlatformError
from llm_platform.promotion.ledger import AliasTarget, Ledger, LedgerEvent
from llm_platform.settings import Settings

_KIND_STYLE = {
    "deployed": "cyan",
    "promoted": "green",
    "refused": "yellow",
    "rolled_back": "bold red",
    "held": "yellow",
    "check_failed": "red",
    "recovered": "green",
}


def _open(uri: str | None) -> ObjectStore:
    """The store named by ``uri`` (default: settings); a local directory must already exist."""
    if uri is None:
        try:
            uri = Settings.from_env().artifact_store_uri
        except PlatformError as exc:
            raise fail(str(exc)) from None
    is_local = "://" not in uri or uri.startswith("file://")
    if is_local:
        path = Path(uri.removeprefix("file://"))
        if not path.is_dir():
            raise fail(f"artifact store {uri} does not exist (set --store or ARTIFACT_STORE_URI)")
    try:
        return open_store(uri)
    except PlatformError as exc:
        raise fail(str(exc)) from None


def _load(
    store: ObjectStore, model: str, env: str | None, limit: int | None
) -> tuple[bool, dict[str, AliasTarget], list[LedgerEvent]]:
    from botocore.exceptions import BotoCoreError, ClientError

    ledger = Ledger(store)
    try:
        return (
            ledger.has_model(model),
            ledger.aliases(model),
            ledger.history(model, env=env, limit=limit),
        )
    except PlatformError as exc:
        raise fail(str(exc)) from None
    except (BotoCoreError, ClientError, OSError) as exc:
        raise fail(f"artifact store {store.uri} unreachable: {exc}") from None


def _print_text(
    model: str, store: ObjectStore, aliases: dict[str, AliasTarget], events: list[LedgerEvent]
) -> None:
    console = table_console()
    table = Table(title=f"{model}: aliases ({store.uri})", title_justify="left")
    for column in ("alias", "version", "digest", "revision", "since", "run"):
        table.add_column(column)
    for alias, target in aliases.items():
        table.add_row(
            alias,
            target.version,
            target.digest[:12],
            target.revision or "",
            target.since.strftime("%Y-%m-%d %H:%M:%S"),
            target.run_id or "",
        )
    if aliases:
        console.print(table)
    else:
        console.print(f"{model}: no aliases (not serving anywhere)", highlight=False)
    events_table = Table(title=f"{model}: history (newest first)", title_justify="left")
    for column in ("time (UTC)", "event", "env", "version", "digest", "by", "run", "reason"):
        events_table.add_column(column, overflow="fold")
    for event in events:
        style = _KIND_STYLE.get(event.kind, "")
        who = event.approver or event.actor or ""
        if event.approver and event.actor and event.actor != event.approver:
            who = f"{event.actor} (approver {event.approver})"
        events_table.add_row(
            event.time.strftime("%Y-%m-%d %H:%M:%S"),
            f"[{style}]{event.kind}[/{style}]" if style else event.kind,
            event.env,
            event.version or "",
            (event.digest or "")[:12],
            who,
            event.run_id or "",
            event.reason,
        )
    console.print(events_table)


def history(
    model: Annotated[str, typer.Argument(help="Model name.")],
    env: Annotated[
        str | None, typer.Option("--env", help="Only events of this environment.")
    ] = None,
    store_uri: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="Artifact store: a directory or s3://bucket/prefix "
            "(default: ARTIFACT_STORE_URI, else $LLM_PLATFORM_HOME/artifacts).",
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Show at most N events.")
    ] = None,
    output: FormatOption = OutputFormat.text,
) -> None:
    """Show which version each environment serves and the promotion history of MODEL.

    Exit 0: shown; 1: no history for MODEL; 2: bad arguments or store unreachable.
    """
    store = _open(store_uri)
    known, aliases, events = _load(store, model, env, limit)
    if not known:
        raise fail(f"no history for model {model!r} in {store.uri}", EXIT_FAIL)
    if output is OutputFormat.json:
        payload: dict[str, Any] = {
            "model": model,
            "store": store.uri,
            "aliases": {k: v.model_dump(mode="json") for k, v in aliases.items()},
            "events": [e.model_dump(mode="json") for e in events],
        }
        typer.echo(json.dumps(payload, indent=2))
    else:
        _print_text(model, store, aliases, events)
    raise typer.Exit(EXIT_OK)


def register(app: typer.Typer) -> None:
    """Add the ``history`` command to the ``llm-platform`` app."""
    app.command("history")(history)
