"""``llm-platform eval``: run an output-quality suite; with ``--baseline``, a paired comparison.

Exit 0 pass, 1 fail, 3 inconclusive, 2 usage / suite / endpoint error (an unreachable baseline
is an error, never a pass).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from llm_platform.cli.options import FormatOption, OutputFormat, fail
from llm_platform.common.errors import EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from llm_platform.config.eval_suite import EvalSuite
    from llm_platform.evals import QualityVerdict, SuiteRun
    from llm_platform.evals.runner import Progress

#: The exit code of each verdict.
VERDICT_EXIT = {"pass": EXIT_OK, "fail": EXIT_FAIL, "inconclusive": EXIT_INCONCLUSIVE}
_STYLE = {"pass": "green", "fail": "red", "inconclusive": "yellow"}
#: Lost cases listed in text output (all of them are in the JSON).
SHOWN_LOST = 20


@contextmanager
def _progress_bar(enabled: bool, label: str) -> Iterator[Progress | None]:
    """A rich progress bar on stderr fed by the runner's ``(done, total)`` callback."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        f"[bold]{escape(label)}[/]",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _run(
    url: str, *, model: str, suite: EvalSuite, timeout: float, label: str, show: bool
) -> SuiteRun:
    from llm_platform.evals import EndpointUnreachable, run_suite

    try:
        with _progress_bar(show, label) as progress:
            return run_suite(url, model=model, suite=suite, timeout_s=timeout, progress=progress)
    except (EndpointUnreachable, ValueError) as exc:
        raise fail(f"{label}: {escape(str(exc))}") from exc


def _print_text(verdict: QualityVerdict, candidate: SuiteRun, baseline: SuiteRun | None) -> None:
    from llm_platform.evals.report import truncate

    out = Console(highlight=False, soft_wrap=True)
    out.print(f"Output quality of [bold]{escape(candidate.model)}[/] at {escape(candidate.url)}")
    for name, run in (("candidate", candidate), ("baseline", baseline)):
        if run is not None:
            out.print(
                f"  {name:<9} {run.passed}/{len(run.results)} passed, {run.unscored} unscorable "
                f"({run.duration_s:.1f} s) {escape(run.url)}"
            )
    style = _STYLE[verdict.verdict]
    out.print(f"Verdict: [bold {style}]{verdict.verdict.upper()}[/] — {escape(verdict.reason)}")
    if verdict.paired:
        out.print(
            f"  kept {verdict.kept}, lost {verdict.lost}, gained {verdict.gained}, "
            f"failed on both {verdict.both_failed}, unscorable {verdict.unscored}"
        )
    if verdict.lost_cases:
        out.print("Lost cases (baseline passed, candidate failed):")
        for lost in verdict.lost_cases[:SHOWN_LOST]:
            guards = f" [{', '.join(lost.guard_failures)}]" if lost.guard_failures else ""
            out.print(f"  [bold]{escape(lost.id)}[/]{escape(guards)}")
            out.print(f"    candidate: {escape(repr(truncate(lost.candidate_output)))}")
            out.print(f"    baseline:  {escape(repr(truncate(lost.baseline_output)))}")
        if len(verdict.lost_cases) > SHOWN_LOST:
            out.print(f"  … and {len(verdict.lost_cases) - SHOWN_LOST} more (--format json)")
    errors = [r for r in candidate.results if r.error] + [
        r for r in (baseline.results if baseline else []) if r.error
    ]
    for result in errors[:5]:
        out.print(f"  unscorable {escape(result.id)}: {escape(truncate(result.error or ''))}")


def eval_suite(
    url: Annotated[str, typer.Argument(help="Candidate endpoint, e.g. http://<gateway>/<model>")],
    model: Annotated[str, typer.Option("--model", help="Model name sent in requests")],
    suite_file: Annotated[
        Path, typer.Option("--suite", help="The suite file (evals/<model>.yaml)")
    ],
    baseline: Annotated[
        str | None,
        typer.Option("--baseline", help="Baseline endpoint (production): a paired comparison"),
    ] = None,
    fmt: FormatOption = OutputFormat.text,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds per request")] = 60,
) -> None:
    """Run an output-quality suite against URL; with --baseline, judge the candidate against it.

    Exit 0 pass, 1 fail, 3 inconclusive, 2 usage / suite / endpoint error.
    """
    from llm_platform.config.eval_suite import load_suite
    from llm_platform.config.problems import ConfigError
    from llm_platform.evals import judge_quality
    from llm_platform.evals.report import verdict_payload

    try:
        suite = load_suite(suite_file)
    except ConfigError as exc:
        err = Console(stderr=True, soft_wrap=True, highlight=False)
        for problem in exc.problems:
            err.print(escape(str(problem)))
        raise fail(f"invalid suite {escape(str(suite_file))}", EXIT_USAGE) from exc
    show = fmt is OutputFormat.text
    candidate = _run(url, model=model, suite=suite, timeout=timeout, label="candidate", show=show)
    base_run = None
    if baseline is not None:
        base_run = _run(
            baseline, model=model, suite=suite, timeout=timeout, label="baseline", show=show
        )
    verdict = judge_quality(candidate, base_run, suite.gate)
    if fmt is OutputFormat.json:
        payload = verdict_payload(verdict, candidate, base_run, suite=str(suite_file))
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        _print_text(verdict, candidate, base_run)
    raise typer.Exit(VERDICT_EXIT[verdict.verdict])


def register(app: typer.Typer) -> None:
    """Add ``eval`` to the ``llm-platform`` app."""
    app.command("eval")(eval_suite)
