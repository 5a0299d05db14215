"""``llm-platform metrics``: delivery (DORA) metrics per model and for the fleet.

Reads the same inputs as the ``delivery_metrics`` asset (the promotion ledger in the artifact
store, the registry records, the models repo's commit times) and prints the same table.

Exit codes: 0 shown (also when nothing was ever promoted: an empty table); 2 configuration
error (bad settings, artifact store missing, unreachable or corrupt).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from llm_platform.artifact_store import ModelRegistry
from llm_platform.cli.history_cmd import _open
from llm_platform.cli.options import FormatOption, OutputFormat, fail, table_console
from llm_platform.common.errors import EXIT_OK, PlatformError
from llm_platform.dora.format import COLUMNS, table_rows, title
from llm_platform.dora.metrics import DeliveryReport
from llm_platform.dora.sources import production_delivery_report
from llm_platform.gitops import GitError, GitRepo
from llm_platform.promotion.ledger import Ledger
from llm_platform.settings import Settings


def report_table(report: DeliveryReport) -> Table:
    """The report as a rich table (the fleet row in bold); also printed by ``make demo``."""
    table = Table(title=title(report), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for heading, _ in COLUMNS:
        # Only model names fold in a narrow terminal; numbers are never cut.
        table.add_column(heading, no_wrap=heading != COLUMNS[0][0], overflow="fold")
    rows = table_rows(report)
    for i, row in enumerate(rows):
        table.add_row(*row, style="bold" if i == len(rows) - 1 else None)
    return table


def metrics(
    output: FormatOption = OutputFormat.text,
) -> None:
    """Delivery metrics of the last 30 days: deployment frequency, lead time commit to
    production (p50/p90), change failure rate, time to restore; per model and fleet.

    Exit 0: shown; 2: configuration error or artifact store unreachable.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        settings = Settings.from_env()
    except PlatformError as exc:
        raise fail(str(exc)) from None
    store = _open(settings.artifact_store_uri)
    stderr = Console(stderr=True, soft_wrap=True)
    repo: GitRepo | None = None
    try:
        repo = GitRepo(
            settings.models_repo,
            branch=settings.models_branch,
            cache_dir=settings.git_cache_dir,
        )
    except GitError as exc:  # the other metrics do not need it: shown, lead times unknown
        stderr.print(f"warning: {exc}: no lead times", highlight=False, markup=False)
    try:
        report = production_delivery_report(
            Ledger(store), ModelRegistry(store), repo, until=datetime.now(UTC)
        )
    except PlatformError as exc:
        raise fail(str(exc)) from None
    except (BotoCoreError, ClientError, OSError) as exc:
        raise fail(f"artifact store {store.uri} unreachable: {exc}") from None
    if output is OutputFormat.json:
        typer.echo(json.dumps(report.model_dump(mode="json"), indent=2))
        raise typer.Exit(EXIT_OK)
    console = table_console()
    console.print(report_table(report))
    for note in report.notes:
        console.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(EXIT_OK)


def register(app: typer.Typer) -> None:
    """Add the ``metrics`` command to the ``llm-platform`` app."""
    app.command("metrics")(metrics)
