"""``llm-platform scan``: security scan of a model artifact (file or directory)."""

from __future__ import annotations

import json
import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from llm_platform.cli.options import table_console
from llm_platform.errors import EXIT_FAIL, EXIT_OK, EXIT_USAGE
from llm_platform.security import ScanReport, scan_path

_STATUS_STYLE = {"clean": "green", "unsafe": "bold red", "error": "yellow"}
_SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "info": "dim"}


class OutputFormat(StrEnum):
    """How ``scan`` prints its result."""

    text = "text"
    json = "json"


def _print_text(report: ScanReport, console: Console) -> None:
    table = Table(title=f"scan of {report.root}", title_justify="left")
    for column in ("file", "kind", "size", "status", "findings"):
        table.add_column(column, justify="right" if column == "size" else "left")
    for file in report.files:
        style = _STATUS_STYLE[file.status]
        blocking = [f for f in file.findings if f.severity != "info"]
        table.add_row(
            file.path,
            file.kind,
            f"{file.size:,}",
            f"[{style}]{file.status}[/{style}]",
            str(len(blocking)) if blocking else "",
        )
    console.print(table)
    for finding in report.findings:
        if finding.severity == "info":
            continue
        style = _SEVERITY_STYLE[finding.severity]
        console.print(
            f"[{style}]{finding.severity:8}[/{style}] {finding.path}: {finding.message} "
            f"[dim]({finding.rule})[/dim]",
            highlight=False,
        )
    s = report.summary
    verdict = "[green]SAFE[/green]" if report.safe else "[bold red]UNSAFE[/bold red]"
    console.print(
        f"{verdict}: {s['files']} file(s): {s['clean']} clean, {s['unsafe']} unsafe, "
        f"{s['errors']} error(s); findings: {s['critical']} critical, {s['high']} high, "
        f"{s['medium']} medium",
        highlight=False,
    )


def _write(target: Path, text: str, stderr: Console) -> None:
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        stderr.print(f"[red]error[/red]: cannot write {target}: {exc}", highlight=False)
        raise typer.Exit(EXIT_USAGE) from exc


def scan(
    path: Annotated[Path, typer.Argument(help="Model file or directory to scan.")],
    output: Annotated[
        OutputFormat, typer.Option("--format", help="Output format.", case_sensitive=False)
    ] = OutputFormat.text,
    sarif: Annotated[
        Path | None, typer.Option("--sarif", help="Also write a SARIF 2.1.0 log to this file.")
    ] = None,
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Also write the JSON report to this file.")
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Unknown pickle globals make the scan fail.")
    ] = False,
) -> None:
    """Scan model artifacts for pickled code and malformed files; exit 1 when unsafe."""
    stderr = Console(stderr=True)
    if not path.exists():
        stderr.print(f"[red]error[/red]: path does not exist: {path}", highlight=False)
        raise typer.Exit(EXIT_USAGE)
    # The report carries every finding; picklescan's own log lines would only repeat them.
    logging.getLogger("picklescan").setLevel(logging.CRITICAL)
    report = scan_path(path, strict=strict)
    if sarif is not None:
        _write(sarif, json.dumps(report.to_sarif(), indent=2), stderr)
    if json_file is not None:
        _write(json_file, report.to_json(), stderr)
    if output is OutputFormat.json:
        typer.echo(report.to_json())
    else:
        _print_text(report, table_console())
    raise typer.Exit(EXIT_OK if report.safe else EXIT_FAIL)


def register(app: typer.Typer) -> None:
    """Add the ``scan`` command to the ``llm-platform`` app."""
    app.command("scan")(scan)
