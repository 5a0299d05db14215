"""Which commit of the models repo a run works on, and what upstream assets recorded."""

from __future__ import annotations

import dagster as dg

from assets.check_history import latest_materialization_metadata
from assets.names import (
    CONFIG_VALID_KEY,
    MODEL_CONFIG,
    TAG_COMMIT,
)
from llm_platform.common.repo_layout import environment_config_path, eval_suite_path
from llm_platform.config import (
    ConfigError,
    EnvironmentConfig,
    ModelConfig,
    at_commit,
    model_config_path,
)
from llm_platform.gitops import GitError, GitPathNotFoundError, GitRepo
from llm_platform.promotion.analysis_traffic import suite_prompts
from llm_platform.promotion.deployment_record import COMMIT_SHA_KEY


def run_commit(context: dg.AssetExecutionContext, repo: GitRepo) -> str:
    """The commit this run works on.

    Runs launched by the git-push sensor carry the commit in a tag, so every step of the run
    sees the same commit even if the branch moves meanwhile. A manual launch from the UI has no
    tag and works on the branch head at that moment.
    """
    sha = context.run.tags.get(TAG_COMMIT)
    if sha:
        return sha
    repo.sync()
    return repo.head()


def validated_config_metadata(
    context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext, partition: str
) -> dict[str, object]:
    """The latest ``model_config`` materialization of a model, refusing an invalid one.

    Raises:
        dagster.Failure: the model has no valid, materialized config.
    """
    meta = latest_materialization_metadata(context.instance, MODEL_CONFIG, partition)
    if meta is None:
        raise dg.Failure(
            description=f"model {partition!r}: {MODEL_CONFIG} was never materialized; "
            "materialize it first (the git-push sensor does this on every push)."
        )
    if not meta.get(CONFIG_VALID_KEY):
        raise dg.Failure(
            description=f"model {partition!r}: the latest {MODEL_CONFIG} "
            f"(commit {meta.get(COMMIT_SHA_KEY)}) is invalid; fix {model_config_path(partition)}",
        )
    return meta


def environment_config(repo: GitRepo, sha: str, env: str) -> EnvironmentConfig:
    """``config/<env>.yaml`` at ``sha``, validated.

    Raises:
        dagster.Failure: the file is missing or invalid (the message lists every problem).
    """
    try:
        return at_commit.environment_config_at(repo, sha, env)
    except (GitError, ConfigError) as exc:
        raise dg.Failure(
            description=f"{environment_config_path(env)} at {sha[:12]}: {exc}"
        ) from exc


def model_config_at(repo: GitRepo, sha: str, name: str) -> ModelConfig:
    """``models/<name>/model.yaml`` at ``sha``, validated.

    Raises:
        dagster.Failure: the file is missing or invalid.
    """
    try:
        return at_commit.model_config_at(repo, sha, name)
    except (GitError, ConfigError) as exc:
        raise dg.Failure(description=f"{model_config_path(name)} at {sha[:12]}: {exc}") from exc


def analysis_prompts(repo: GitRepo, sha: str, model: str) -> list[str]:
    """The ``prompt`` cases of ``evals/<model>.yaml`` at ``sha`` for synthetic canary traffic
    (empty when the model has no suite: the built-in prompts are used).

    Raises:
        dagster.Failure: the suite exists but is not a valid document.
    """
    path = eval_suite_path(model)
    try:
        text = repo.read_file(sha, path)
    except GitPathNotFoundError:
        return []
    try:
        return suite_prompts(text)
    except ValueError as exc:
        raise dg.Failure(description=f"{path} at {sha[:12]}: {exc}") from exc
