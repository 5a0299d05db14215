"""``llm-platform scan``: security scan of a model artifact (file or directory)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from llm_platform.cli.options import FormatOption, OutputFormat, table_console
from llm_platform.common.errors import EXIT_FAIL, EXIT_OK, EXIT_USAGE
from llm_platform.gitops.runner import GitError
from llm_platform.security import ScanReport, scan_path
from llm_platform.security.repo_scan import RepoScanReport, scan_commit, scan_directory

_STATUS_STYLE = {"clean": "green", "unsafe": "bold red", "error": "yellow"}
_SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "info": "dim"}


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
            soft_wrap=True,
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


def _print_repo(report: RepoScanReport, console: Console) -> None:
    for finding in report.findings:
        style = _SEVERITY_STYLE[finding.severity]
        console.print(
            f"[{style}]{finding.severity:8}[/{style}] {finding.message} "
            f"[dim]({finding.rule})[/dim]",
            highlight=False,
            soft_wrap=True,
        )
    s = report.summary
    verdict = "[green]CLEAN[/green]" if report.safe else "[bold red]SECRETS FOUND[/bold red]"
    at = f" at {report.commit[:12]}" if report.commit else ""
    console.print(
        f"{verdict}: {report.root}{at}: {s['files_scanned']} file(s) scanned, "
        f"{s['files_skipped']} skipped (binary or over the size limit); {s['findings']} "
        f"finding(s), {s['blocking']} blocking, {s['suppressed_by_baseline']} in the baseline",
        highlight=False,
        soft_wrap=True,
    )


def _scan_repo(repo: Path, commit: str | None, stderr: Console) -> RepoScanReport:
    if not repo.is_dir():
        stderr.print(f"[red]error[/red]: not a directory: {repo}", highlight=False)
        raise typer.Exit(EXIT_USAGE)
    if commit is None:
        return scan_directory(repo)
    from llm_platform.gitops.repo import GitRepo

    try:
        return scan_commit(GitRepo(str(repo.resolve())), commit)
    except GitError as exc:
        stderr.print(f"[red]error[/red]: {exc}", highlight=False)
        raise typer.Exit(EXIT_USAGE) from exc


def scan(
    path: Annotated[
        Path | None, typer.Argument(help="Model file or directory to scan (artifact scan).")
    ] = None,
    repo: Annotated[
        Path | None,
        typer.Option(
            "--repo",
            help="Scan this repository for leaked secrets instead (detect-secrets; its "
            ".secrets.baseline lists reviewed findings).",
        ),
    ] = None,
    commit: Annotated[
        str | None,
        typer.Option("--commit", help="With --repo: scan the files of this commit, not the tree."),
    ] = None,
    output: FormatOption = OutputFormat.text,
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
    """Scan model artifacts for pickled code and malformed files, or with ``--repo`` a
    repository for leaked secrets; exit 1 when unsafe (or a secret is found), 2 on usage."""
    stderr = Console(stderr=True)
    if (path is None) == (repo is None) or (commit is not None and repo is None):
        stderr.print(
            "[red]error[/red]: give either PATH (artifact scan) or --repo DIR [--commit REV]",
            highlight=False,
        )
        raise typer.Exit(EXIT_USAGE)
    if repo is not None:
        repo_report = _scan_repo(repo, commit, stderr)
        if sarif is not None:
            _write(sarif, json.dumps(repo_report.to_sarif(), indent=2), stderr)
        if json_file is not None:
            _write(json_file, repo_report.to_json(), stderr)
        if output is OutputFormat.json:
            typer.echo(repo_report.to_json())
        else:
            _print_repo(repo_report, table_console())
        raise typer.Exit(EXIT_OK if repo_report.safe else EXIT_FAIL)
    assert path is not None
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
