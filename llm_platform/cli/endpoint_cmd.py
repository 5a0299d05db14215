"""``llm-platform test-endpoint``: run the integration suite against one model endpoint."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from llm_platform.cli.options import FormatOption, OutputFormat
from llm_platform.common.errors import EXIT_FAIL, EXIT_OK, EXIT_USAGE
from llm_platform.serving.openai_paths import HEALTH_PATH


def test_endpoint(
    url: Annotated[str, typer.Argument(help="Endpoint root, e.g. http://127.0.0.1:8080/<model>")],
    model: Annotated[str, typer.Option("--model", help="Model name sent in requests")],
    health_path: Annotated[str, typer.Option(help="Health path below URL")] = HEALTH_PATH,
    concurrency: Annotated[int, typer.Option(min=1, max=1024)] = 8,
    requests: Annotated[int, typer.Option(min=1, max=1_000_000)] = 50,
    min_success_rate: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.8,
    timeout: Annotated[
        float,
        typer.Option(min=0.1, help="Seconds per request; for a stream, the whole stream"),
    ] = 30.0,
    stream: Annotated[
        bool,
        typer.Option(
            "--stream", help="Also test stream: true (Server-Sent Events); the load test streams"
        ),
    ] = False,
    chat: Annotated[
        bool,
        typer.Option("--chat", help="Also test /v1/chat/completions (streamed too with --stream)"),
    ] = False,
    fmt: FormatOption = OutputFormat.text,
) -> None:
    """Health, one inference and a concurrent load test against URL; exit 1 if any fails.

    --stream and --chat add the streaming and chat tests; time to first token p50/p95 is
    reported (first content chunk when streaming, else the whole response).
    """
    from llm_platform.endpoint_tests import latency_lines, run_suite

    err = Console(stderr=True)
    try:
        report = run_suite(
            url,
            model=model,
            health_path=health_path,
            concurrency=concurrency,
            requests=requests,
            min_success_rate=min_success_rate,
            timeout_s=timeout,
            stream=stream,
            chat=chat,
        )
    except ValueError as exc:
        err.print(f"test-endpoint: {escape(str(exc))}")
        raise typer.Exit(EXIT_USAGE) from exc
    if fmt is OutputFormat.json:
        print(report.model_dump_json(indent=2))
    else:
        out = Console(highlight=False, soft_wrap=True)
        out.print(f"Integration suite for model [bold]{escape(model)}[/] at {escape(url)}")
        for t in report.tests:
            mark = "[green]PASS[/]" if t.passed else "[red]FAIL[/]"
            ms = t.duration_s * 1000
            out.print(f"  {mark} {t.name:<11} {escape(t.detail)} [dim]({ms:.0f} ms)[/]")
        for line in latency_lines(report):
            out.print(f"  {escape(line)}")
        passed = sum(t.passed for t in report.tests)
        verdict = "[green]PASSED[/]" if report.passed else "[red]FAILED[/]"
        out.print(f"Result: {verdict} ({passed}/{len(report.tests)} tests)")
    raise typer.Exit(EXIT_OK if report.passed else EXIT_FAIL)


def register(app: typer.Typer) -> None:
    """Add ``test-endpoint`` to the ``llm-platform`` app."""
    app.command("test-endpoint")(test_endpoint)
