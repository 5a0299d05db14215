"""The ``llm-platform`` command line (typer). Each command lives in its own module."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="llm-platform",
    help="GitOps continuous delivery for LLM deployments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """GitOps continuous delivery for LLM deployments (exit codes: 0 ok, 1 fail, 2 usage, 3
    inconclusive)."""


def _register() -> None:
    # Imported here so that each command module stays independent and importing the package
    # stays cheap.
    from llm_platform.cli import validate_cmd

    validate_cmd.register(app)
    from llm_platform.cli import demo_cmd

    demo_cmd.register(app)
    from llm_platform.cli import slo_cmd

    slo_cmd.register(app)
    from llm_platform.cli import endpoint_cmd

    endpoint_cmd.register(app)
    from llm_platform.cli import scan_cmd

    scan_cmd.register(app)
    from llm_platform.cli import stack_cmd

    stack_cmd.register(app)
    from llm_platform.cli import history_cmd

    history_cmd.register(app)
    from llm_platform.cli import manifests_cmd

    manifests_cmd.register(app)
    from llm_platform.cli import approvals_cmd

    approvals_cmd.register(app)
    from llm_platform.cli import metrics_cmd

    metrics_cmd.register(app)
    from llm_platform.cli import rules_cmd

    rules_cmd.register(app)
    from llm_platform.cli import eval_cmd

    eval_cmd.register(app)


def main() -> None:
    """Console-script entry point."""
    _register()
    app()
