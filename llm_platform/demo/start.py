"""Step 1 of the headless demo: its trust root and Dagster home, a fresh models repo with Gemma,
and the embedded stack."""

from __future__ import annotations

import shutil
from pathlib import Path

from rich.console import Console

from llm_platform.demo.gemma import add_gemma_to_repo
from llm_platform.demo.repo import ensure_demo_repo
from llm_platform.demo.setup import allow_gemma_source, use_dagster_home, use_demo_trust_root
from llm_platform.demo.signing import DEMO_MODEL_OWNER, demo_email
from llm_platform.demo.story import GEMMA
from llm_platform.settings import TRUSTED_SIGNERS_ENV, Settings
from llm_platform.targets.local.stack import StackInfo, stack_up


def start(console: Console) -> tuple[Settings, dict[str, Path], StackInfo]:
    """Step 1, told on ``console``: the demo's trust root and Dagster home, a fresh models repo,
    the embedded stack.

    Returns:
        The settings, the approvers' signing keys, and the running stack.
    """
    allow_gemma_source(Settings.from_env().home)
    keys, ignored = use_demo_trust_root(Settings.from_env().home)
    if ignored:
        console.print(f"  [yellow]{TRUSTED_SIGNERS_ENV}={ignored} ignored:[/yellow] the demo's")
        console.print("  approvals are signed by its own keys, trusted by its own trust root")
    settings = Settings.from_env()
    home = settings.home
    use_dagster_home(home)
    console.rule("llm-platform demo (embedded defaults)")
    if settings.models_repo == str(settings.demo_repo_path) and settings.demo_repo_path.exists():
        shutil.rmtree(settings.demo_repo_path)  # a fresh demo every time
        shutil.rmtree(home / "kfp", ignore_errors=True)
    owner_key = keys[DEMO_MODEL_OWNER]  # bob adds and changes the models, signed; alice approves
    ensure_demo_repo(settings.demo_repo_path, signing_key=owner_key)
    if settings.models_repo == str(settings.demo_repo_path):
        console.print(f"  assembling {GEMMA} (230 MB, outside git) and adding it to the repo")
        add_gemma_to_repo(settings.demo_repo_path, home, signing_key=owner_key)
    console.print(f"[bold]1.[/bold] models repo {settings.models_repo}; starting the stack")
    names = ", ".join(demo_email(n) for n in keys)
    console.print(f"  approvals trust root {settings.trusted_signers} ({names})")
    info = stack_up(home, progress=lambda m: console.print(f"  {m}"))
    return settings, keys, info
