"""Where the ``output_quality`` check finds its inputs: the suite at a commit, whether the
environments require one, the staging revision's URL and production's revision.

Revisions are reached through their environment's gateway pinned to the revision
(``<gateway>/<model>@<revision>``), so the suite measures exactly that build with the gateway's
own path (faults, limits) and never the other color of a split.
"""

from __future__ import annotations

from llm_platform.common.errors import PlatformError
from llm_platform.common.repo_layout import eval_suite_path
from llm_platform.config.at_commit import environment_config_at
from llm_platform.config.eval_suite import EvalSuite, parse_suite
from llm_platform.evals.quality_check import BaselineTarget
from llm_platform.gitops import GitPathNotFoundError, GitRepo
from llm_platform.promotion import Ledger
from llm_platform.targets.base import RevisionStatus, Runtime


class QualityInputError(PlatformError):
    """An input of the check is missing or unusable (the check then fails closed)."""


def suite_at(repo: GitRepo, sha: str, model: str) -> EvalSuite | None:
    """``evals/<model>.yaml`` at ``sha``, validated; None when the file does not exist.

    Raises:
        ConfigError: the suite is invalid (every problem, with file and line).
        GitError: the commit cannot be read.
    """
    rel = eval_suite_path(model)
    try:
        data = repo.read_file(sha, rel)
    except GitPathNotFoundError:
        return None
    return parse_suite(data, source=rel)


def suite_required(repo: GitRepo, sha: str, envs: tuple[str, ...]) -> list[str]:
    """The environments among ``envs`` whose ``config/<env>.yaml`` at ``sha`` sets
    ``quality.required: true`` (a missing file requires nothing).

    Raises:
        ConfigError: an environment file is invalid.
    """
    requiring = []
    for env in envs:
        try:
            required = environment_config_at(repo, sha, env).quality.required
        except GitPathNotFoundError:
            continue
        if required:
            requiring.append(env)
    return requiring


def _pinned(status_revisions: list[RevisionStatus], revision: str) -> RevisionStatus | None:
    return next((r for r in status_revisions if r.revision == revision), None)


def revision_url(runtime: Runtime, env: str, model: str, revision: str) -> str:
    """The URL of ``revision`` of ``model`` through ``env``'s gateway.

    Raises:
        QualityInputError: the deployment or the revision is not there, or has no URL.
    """
    status = runtime.status(env, model)
    rev = _pinned(status.revisions, revision) if status else None
    url = (rev.gateway_url or rev.url) if rev else None
    if not url:
        raise QualityInputError(f"{model} revision {revision} is not serving in {env}")
    return url


def production_baseline(
    runtime: Runtime, ledger: Ledger, model: str, env: str
) -> BaselineTarget | None:
    """The revision production serves (the ledger's ``<env>`` alias), None when there is none.

    Raises:
        QualityInputError: production names a revision the runtime does not serve.
    """
    target = ledger.serving(model, env)
    if target is None:
        return None
    if target.revision is None:
        raise QualityInputError(f"the ledger's {env} alias of {model} names no revision")
    desired = runtime.desired_spec(env, model)
    revisions = desired.revisions if desired else []
    spec = next((r for r in revisions if r.revision == target.revision), None)
    if spec is None:
        raise QualityInputError(
            f"{env} serves {model} {target.version} ({target.revision}) per the ledger, "
            "but the runtime has no such revision"
        )
    return BaselineTarget(
        url=revision_url(runtime, env, model, target.revision),
        digest=target.digest,
        engine=spec.engine,
        revision=target.revision,
        version=target.version,
    )


__all__ = [
    "QualityInputError",
    "production_baseline",
    "revision_url",
    "suite_at",
    "suite_required",
]
