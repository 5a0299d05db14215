"""``llm-platform demo-repo``: create the demo models repo that the embedded default watches."""

from __future__ import annotations

import subprocess
import sys

import typer
from rich.console import Console

from llm_platform.common.errors import EXIT_USAGE, PlatformError
from llm_platform.demo.repo import ensure_demo_repo
from llm_platform.demo.signing import DEMO_MODEL_OWNER, ensure_demo_signers
from llm_platform.settings import Settings


def demo_repo() -> None:
    """Create the demo models repo under LLM_PLATFORM_HOME (if no repo is configured)."""
    console = Console(stderr=True)
    try:
        settings = Settings.from_env()
        if settings.models_repo != str(settings.demo_repo_path):
            console.print(f"models repo configured: {settings.models_repo} (nothing to create)")
            return
        trust_root, keys = ensure_demo_signers(settings.home)
        created = ensure_demo_repo(
            settings.demo_repo_path,
            branch=settings.models_branch,
            signing_key=keys[DEMO_MODEL_OWNER],
        )
    except PlatformError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(EXIT_USAGE) from exc
    verb = "created" if created else "exists"
    console.print(f"demo models repo {verb}: {settings.demo_repo_path}")
    console.print("edit a models/<name>/model.yaml there and `git commit`: the sensor reacts.")
    console.print(
        f"approvers' SSH keys: {', '.join(str(k) for k in keys.values())}; trust root "
        f"{trust_root} (set LLM_PLATFORM_TRUSTED_SIGNERS to it; `make dev` does)"
    )


def demo() -> None:
    """Run the whole flow headless on the embedded defaults (validate → register → stage →
    gated promotion → automatic rollback), leaving the stack running for `make dev`."""
    # The headless run drives Dagster, which this package must not import (see "Layers" in
    # docs/architecture.md): it lives in the top-level module ``platform_demo`` and runs in its
    # own interpreter.
    code = subprocess.call([sys.executable, "-m", "platform_demo"])
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add the commands to the CLI."""
    app.command("demo-repo")(demo_repo)
    app.command("demo")(demo)
