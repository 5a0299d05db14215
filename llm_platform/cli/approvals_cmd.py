"""``llm-platform approvals check``: would the approvals let this digest into this environment?

The same function as the production gate (:func:`llm_platform.promotion.check_approval`), run
on the models repo's checked-out commit (``HEAD``; for a remote repo, the configured branch).
"""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer
from rich.console import Console

from llm_platform.artifact_store import (
    ModelRegistry,
    RegistryError,
    StoreError,
    open_store,
)
from llm_platform.cli.home_defaults import cli_trust_root
from llm_platform.cli.options import (
    EnvOption,
    FormatOption,
    OutputFormat,
    RepoOption,
    fail,
    models_repo_location,
)
from llm_platform.common.digest import SHA256_HEX_LENGTH
from llm_platform.common.errors import EXIT_FAIL, EXIT_OK, ConfigurationError
from llm_platform.common.repo_layout import DEFAULT_BRANCH
from llm_platform.config import ConfigError
from llm_platform.config.at_commit import environment_config_at
from llm_platform.gitops import GitError, GitRepo
from llm_platform.promotion import ApprovalDecision, check_approval
from llm_platform.settings import MODELS_BRANCH_ENV, Settings

approvals_app = typer.Typer(help="Verified promotion approvals.", no_args_is_help=True)


def decision_json(
    decision: ApprovalDecision, *, env: str, model: str, version: str, digest: str, commit: str
) -> dict[str, object]:
    """The CLI's JSON document for a decision."""
    approval = decision.approval
    signature = approval.introduced_by if approval else None
    return {
        "model": model,
        "env": env,
        "version": version,
        "digest": digest,
        "commit": commit,
        "verdict": "approved" if decision.approved else "refused",
        "reason": decision.reason,
        "reasons": decision.reasons,
        "approval": None
        if approval is None
        else {
            "approver": approval.approver,
            "signer": signature.signer if signature else None,
            "commit": signature.commit if signature else None,
            "approved_at": approval.approved_at.isoformat(),
            "comment": approval.comment,
        },
    }


def _full_digest(model: str, version: str, digest: str) -> str:
    """``digest`` itself when it is a full sha256, else the registered digest it prefixes."""
    if len(digest.strip()) == SHA256_HEX_LENGTH:
        return digest.strip()
    registry = ModelRegistry(open_store(Settings.from_env().artifact_store_uri))
    return registry.resolve_digest(model, version, digest)


@approvals_app.command("check")
def check(
    env: EnvOption,
    model: Annotated[str, typer.Option("--model", help="Model name.")],
    version: Annotated[str, typer.Option("--version", help="Model version to promote.")],
    digest: Annotated[
        str,
        typer.Option(
            "--digest",
            help="Artifact sha256 (64 hex), or a unique prefix of a registered one (e.g. the "
            "12 characters tables show), resolved in $ARTIFACT_STORE_URI.",
        ),
    ],
    repo: RepoOption = None,
    output: FormatOption = OutputFormat.text,
) -> None:
    """Check the approval of a digest; exit 0 approved, 1 refused (every reason), 2 config error.

    Approvals are verified against the trust root named by $LLM_PLATFORM_TRUSTED_SIGNERS
    (unset: this home's trust root, when it has one).
    """
    location = models_repo_location(repo)
    try:
        trust_root = cli_trust_root()
        digest = _full_digest(model, version, digest)
        git_repo = GitRepo(location, branch=os.environ.get(MODELS_BRANCH_ENV) or DEFAULT_BRANCH)
        git_repo.sync()
        commit = git_repo.head() if git_repo.is_remote else git_repo.resolve("HEAD")
        env_cfg = environment_config_at(git_repo, commit, env)
        decision = check_approval(
            git_repo,
            commit,
            env=env_cfg,
            model=model,
            version=version,
            digest=digest,
            trust_root=trust_root,
        )
    except (
        ConfigurationError,
        ConfigError,
        GitError,
        RegistryError,
        StoreError,
        ValueError,
    ) as exc:
        raise fail(str(exc), label="configuration error") from exc
    if output is OutputFormat.json:
        document = decision_json(
            decision, env=env, model=model, version=version, digest=digest, commit=commit
        )
        typer.echo(json.dumps(document, indent=2))
    else:
        console = Console()
        if decision.approved:
            console.print(f"[green]approved[/green]: {decision.reason}", highlight=False)
        else:
            console.print(
                f"[red]refused[/red]: {model} {version} into {env!r} at {commit[:12]}",
                highlight=False,
            )
            for reason in decision.reasons or [decision.reason]:
                console.print(f"  - {reason}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_OK if decision.approved else EXIT_FAIL)


def register(app: typer.Typer) -> None:
    """Add the ``approvals`` command group (``approvals check``) to the ``llm-platform`` app."""
    app.add_typer(approvals_app, name="approvals")
