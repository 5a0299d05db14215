"""Platform settings, read from environment variables once, when the Definitions are built.

Nothing reads the environment at import time; the composition root calls
:meth:`Settings.from_env` and passes the result down. Secrets (``KFP_TOKEN``,
``SLACK_WEBHOOK_URL`` and the per-environment ``SLACK_WEBHOOK_<NAME>``,
``PROMETHEUS_BEARER_TOKEN``, ``PROMETHEUS_HEADERS``) are never stored here: only whether (or
which) they are set, so the resources can refer to them through ``dg.EnvVar`` and the UI shows
their names, not their values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, field_validator

from llm_platform.common.errors import ConfigurationError
from llm_platform.common.repo_layout import DEFAULT_BRANCH
from llm_platform.common.target_names import (
    DEFAULT_TARGET,
    TARGET_ENV,
    TARGET_NAMES,
    Target,
    unknown_target_message,
)
from llm_platform.reporting.commit_status_settings import (
    DEFAULT_GITHUB_API_URL,
    GITHUB_API_URL_ENV,
    GITHUB_REPOSITORY_ENV,
    GITHUB_TOKEN_ENV,
)
from llm_platform.reporting.routes import GLOBAL_WEBHOOK_ENV, is_webhook_env_name
from llm_platform.targets.kubernetes.image import PLATFORM_IMAGE, platform_image
from llm_platform.targets.kubernetes.kubeconfigs import environment_kubeconfigs

DEFAULT_HOME = ".llm-platform"
DEMO_REPO_DIRNAME = "models-repo"
#: Host directories a ``local`` model source may name by absolute path (os.pathsep-separated,
#: absolute). Set by the platform operator, never by the models repo; unset means none.
ALLOWED_SOURCE_PATHS_ENV = "LLM_PLATFORM_ALLOWED_SOURCE_PATHS"
#: Largest artifact (sum of its file sizes, bytes) registration accepts.
MAX_ARTIFACT_BYTES_ENV = "LLM_PLATFORM_MAX_ARTIFACT_BYTES"
DEFAULT_MAX_ARTIFACT_BYTES = 64 * 1024**3


#: The embedded stack's state directory (default ``./.llm-platform``).
HOME_ENV = "LLM_PLATFORM_HOME"
#: The models repo (a path or a git URL) and the branch the pipeline follows.
MODELS_REPO_ENV = "LLM_PLATFORM_MODELS_REPO"
MODELS_BRANCH_ENV = "LLM_PLATFORM_MODELS_BRANCH"
#: The Kubeflow Pipelines endpoint and its bearer token (a secret: only whether it is set).
KFP_ENDPOINT_ENV = "KFP_ENDPOINT"
KFP_TOKEN_ENV = "KFP_TOKEN"


def home_from_env(environ: Mapping[str, str] | None = None, *, cwd: Path | None = None) -> Path:
    """``$LLM_PLATFORM_HOME`` (relative to ``cwd``) or ``<cwd>/.llm-platform``, absolute."""
    env = os.environ if environ is None else environ
    base = cwd or Path.cwd()
    home = Path(env.get(HOME_ENV) or DEFAULT_HOME)
    return home if home.is_absolute() else base / home


def allowed_source_paths_from_env(environ: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """The operator's allow-list of host directories for absolute ``local`` sources.

    Raises:
        ConfigurationError: an entry is not an absolute path.
    """
    env = os.environ if environ is None else environ
    raw = env.get(ALLOWED_SOURCE_PATHS_ENV) or ""
    paths = []
    for entry in raw.split(os.pathsep):
        if not entry.strip():
            continue
        path = Path(entry.strip())
        if not path.is_absolute():
            raise ConfigurationError(
                f"{ALLOWED_SOURCE_PATHS_ENV}: {entry!r} is not an absolute path "
                f"(expected absolute directories separated by {os.pathsep!r})"
            )
        paths.append(path)
    return tuple(paths)


def max_artifact_bytes_from_env(environ: Mapping[str, str] | None = None) -> int:
    """The artifact size limit in bytes (default :data:`DEFAULT_MAX_ARTIFACT_BYTES`).

    Raises:
        ConfigurationError: the value is not a positive integer.
    """
    env = os.environ if environ is None else environ
    raw = (env.get(MAX_ARTIFACT_BYTES_ENV) or "").strip()
    if not raw:
        return DEFAULT_MAX_ARTIFACT_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigurationError(
            f"{MAX_ARTIFACT_BYTES_ENV}={raw!r}: expected a positive number of bytes"
        )
    return value


#: Where a run's steps execute: in the run's process/pod, or each in its own Kubernetes Job.
EXECUTOR_ENV = "LLM_PLATFORM_EXECUTOR"
Executor = Literal["default", "k8s_job"]


#: The approvals trust root: a file in git's SSH ``allowed_signers`` format (principals are
#: e-mail addresses), kept outside the models repo. Set by the platform operator; unset means no
#: approval can be verified (environments with ``approval_required`` then refuse promotion).
TRUSTED_SIGNERS_ENV = "LLM_PLATFORM_TRUSTED_SIGNERS"


def trusted_signers_from_env(environ: Mapping[str, str] | None = None) -> Path | None:
    """The approvals trust root's path, or None when it is not configured.

    Raises:
        ConfigurationError: the value is not an absolute path.
    """
    env = os.environ if environ is None else environ
    raw = (env.get(TRUSTED_SIGNERS_ENV) or "").strip()
    if not raw:
        return None
    path = Path(raw)
    if not path.is_absolute():
        raise ConfigurationError(f"{TRUSTED_SIGNERS_ENV}={raw!r}: expected an absolute file path")
    return path


#: Prometheus for SLO checks (else the embedded stack of ``LLM_PLATFORM_HOME``).
PROMETHEUS_URL_ENV = "PROMETHEUS_URL"
#: Secret: sent as ``Authorization: Bearer <token>`` to a secured Prometheus.
PROMETHEUS_BEARER_TOKEN_ENV = "PROMETHEUS_BEARER_TOKEN"
#: Secret: a JSON object of extra headers for Prometheus, e.g. ``{"X-Scope-OrgID": "team-a"}``.
PROMETHEUS_HEADERS_ENV = "PROMETHEUS_HEADERS"
#: Base URL of the Dagster UI, for run links in notifications (``<url>/runs/<run id>``).
DAGSTER_URL_ENV = "LLM_PLATFORM_DAGSTER_URL"
#: Where ``make dev`` serves the UI.
DEFAULT_DAGSTER_URL = "http://127.0.0.1:3000"


def webhook_env_vars(env: Mapping[str, str]) -> tuple[str, ...]:
    """Names (never values) of the per-environment webhook variables that are set, sorted."""
    return tuple(
        sorted(
            name
            for name, value in env.items()
            if value and name != GLOBAL_WEBHOOK_ENV and is_webhook_env_name(name)
        )
    )


class Settings(BaseModel):
    """Where the platform's inputs and state live (the variables table in README.md)."""

    model_config = ConfigDict(frozen=True)

    home: Path
    models_repo: str
    models_branch: str = DEFAULT_BRANCH
    #: A name in :data:`llm_platform.targets.registry.TARGETS`.
    target: Target = DEFAULT_TARGET
    artifact_store_uri: str
    prometheus_url: str | None = None
    kfp_endpoint: str | None = None
    kfp_token_set: bool = False
    prometheus_bearer_token_set: bool = False
    prometheus_headers_set: bool = False
    slack_webhook_set: bool = False
    #: ``SLACK_WEBHOOK_<NAME>`` variables that are set (``monitoring.alert_manager_webhook``).
    environment_webhook_vars: tuple[str, ...] = ()
    dagster_url: str = DEFAULT_DAGSTER_URL
    slo_recheck_cron: str = "0 * * * *"
    allowed_source_paths: tuple[Path, ...] = ()
    max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES
    platform_image: str = PLATFORM_IMAGE
    executor: Executor = "default"
    trusted_signers: Path | None = None
    #: Commit statuses: GITHUB_TOKEN is a secret (only whether it is set is kept).
    github_token_set: bool = False
    github_api_url: str = DEFAULT_GITHUB_API_URL
    github_repository: str | None = None
    #: ``LLM_PLATFORM_KUBECONFIG_<ENV>`` variables that are set, with their paths.
    kubeconfigs: dict[str, str] = {}

    @field_validator("models_branch")
    @classmethod
    def _branch_not_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError(f"{MODELS_BRANCH_ENV} must not be empty")
        return v

    @property
    def demo_repo_path(self) -> Path:
        """Where the demo models repo lives when no repo is configured."""
        return self.home / DEMO_REPO_DIRNAME

    @property
    def git_cache_dir(self) -> Path:
        """Where clones of a remote models repo are cached."""
        return self.home / "git-cache"

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, cwd: Path | None = None
    ) -> Settings:
        """Build settings from environment variables (defaults: the variables table in README.md).

        Raises:
            ConfigurationError: a variable has a value the platform cannot use.
        """
        env = os.environ if environ is None else environ
        home = home_from_env(env, cwd=cwd)
        target = env.get(TARGET_ENV) or DEFAULT_TARGET
        if target not in TARGET_NAMES:
            raise ConfigurationError(unknown_target_message(target))
        executor = env.get(EXECUTOR_ENV) or "default"
        if executor not in get_args(Executor):
            raise ConfigurationError(
                f"{EXECUTOR_ENV}={executor!r}: expected one of {', '.join(get_args(Executor))}"
            )
        repo = env.get(MODELS_REPO_ENV) or str(home / DEMO_REPO_DIRNAME)
        store = env.get("ARTIFACT_STORE_URI") or str(home / "artifacts")
        allowed = allowed_source_paths_from_env(env)
        max_bytes = max_artifact_bytes_from_env(env)
        trusted_signers = trusted_signers_from_env(env)
        try:
            return cls(
                home=home,
                models_repo=repo,
                models_branch=env.get(MODELS_BRANCH_ENV) or DEFAULT_BRANCH,
                target=target,  # type: ignore[arg-type]
                artifact_store_uri=store,
                prometheus_url=env.get(PROMETHEUS_URL_ENV) or None,
                kfp_endpoint=env.get(KFP_ENDPOINT_ENV) or None,
                kfp_token_set=bool(env.get(KFP_TOKEN_ENV)),
                prometheus_bearer_token_set=bool(env.get(PROMETHEUS_BEARER_TOKEN_ENV)),
                prometheus_headers_set=bool(env.get(PROMETHEUS_HEADERS_ENV)),
                slack_webhook_set=bool(env.get(GLOBAL_WEBHOOK_ENV)),
                environment_webhook_vars=webhook_env_vars(env),
                dagster_url=(env.get(DAGSTER_URL_ENV) or DEFAULT_DAGSTER_URL).rstrip("/"),
                slo_recheck_cron=env.get("LLM_PLATFORM_SLO_RECHECK_CRON") or "0 * * * *",
                allowed_source_paths=allowed,
                max_artifact_bytes=max_bytes,
                platform_image=platform_image(env),
                executor=executor,  # type: ignore[arg-type]
                trusted_signers=trusted_signers,
                github_token_set=bool(env.get(GITHUB_TOKEN_ENV)),
                github_api_url=env.get(GITHUB_API_URL_ENV) or DEFAULT_GITHUB_API_URL,
                github_repository=env.get(GITHUB_REPOSITORY_ENV) or None,
                kubeconfigs=environment_kubeconfigs(env),
            )
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from exc
