"""GitHub commit statuses as a Dagster resource: every stage reports to the commit it processed.

Wire the token as ``CommitStatusResource(token=dg.EnvVar("GITHUB_TOKEN"), ...)`` so the UI shows
the variable's name, never its value; without a token the resource is off and posts nothing.
Posting never fails a run: an unreachable or failing GitHub is retried a bounded number of
times, then logged as a warning (status code or error, never the token).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import dagster as dg
from pydantic import Field, PrivateAttr

from llm_platform.reporting.commit_status import CommitStatus, pending, stage_error
from llm_platform.reporting.commit_status_settings import DEFAULT_GITHUB_API_URL
from llm_platform.reporting.failure_alerts import run_url
from llm_platform.reporting.github_client import (
    CommitStatusPoster,
    PostOutcome,
    commit_url,
    repository_for_models_repo,
    valid_repository,
)
from llm_platform.reporting.stages import Stage

logger = logging.getLogger(__name__)

Context = dg.AssetExecutionContext | dg.AssetCheckExecutionContext


@dataclass
class StageScope:
    """The stage an asset body is in, the commit it announced, and whether it reported."""

    stage: Stage
    model: str | None = None
    sha: str | None = None
    finished: bool = False


class CommitStatusResource(dg.ConfigurableResource):
    """Posts ``llm-platform/<stage>/<model>`` statuses to the models repo's commits on GitHub.

    Off unless ``token`` is set. The repository is ``repository`` (``owner/name``) or, unset,
    read from ``models_repo`` (its URL, or a local work tree's ``origin`` remote) when a run
    first posts. Each status links to the run's page under ``dagster_url``.
    """

    token: str | None = Field(
        default=None,
        repr=False,
        description="GitHub token with commit-status write access (secret: set it through "
        "dg.EnvVar('GITHUB_TOKEN')). Unset: commit statuses are off.",
    )
    api_url: str = Field(
        default=DEFAULT_GITHUB_API_URL,
        description="REST API root; GitHub Enterprise Server: https://<host>/api/v3.",
    )
    repository: str | None = Field(
        default=None, description="owner/name of the models repo (default: from its remote)."
    )
    models_repo: str | None = Field(
        default=None, description="The models repo location, to read owner/name from."
    )
    dagster_url: str | None = Field(
        default=None, description="Base URL of the Dagster UI, for links to runs."
    )
    attempts: int = Field(default=3, ge=1, le=10, description="Tries per status.")
    backoff_seconds: float = Field(
        default=1.0, ge=0.0, le=30.0, description="Wait before the 2nd try; doubled after."
    )
    timeout_seconds: float = Field(default=10.0, gt=0.0, le=60.0)

    _poster: CommitStatusPoster | None = PrivateAttr(default=None)
    _unavailable: str | None = PrivateAttr(default=None)
    _scope: StageScope | None = PrivateAttr(default=None)
    _repository: tuple[str | None] | None = PrivateAttr(default=None)

    def __repr__(self) -> str:
        state = "on" if self.token else "off"
        return f"CommitStatusResource({state}, api_url={self.api_url!r})"

    __str__ = __repr__

    @property
    def enabled(self) -> bool:
        """Whether statuses are posted (a token is configured)."""
        return bool(self.token)

    def run_url(self, run_id: str) -> str | None:
        """The run's page in the Dagster UI, when its base URL is configured."""
        return run_url(self.dagster_url, run_id) if self.dagster_url else None

    def start(self, context: Context, stage: Stage, model: str, sha: str) -> PostOutcome | None:
        """The stage begins on commit ``sha``: post ``pending`` and remember the commit, so a
        failure of the asset body (see :func:`resources.github_stage.reports_commit_status`)
        is reported to it as ``error``."""
        scope = self._scope
        if scope is not None and scope.stage is stage:
            scope.model, scope.sha = model, sha
        return self.report(context, pending(stage, model), sha=sha)

    def report(
        self, context: Context, status: CommitStatus, *, sha: str | None = None
    ) -> PostOutcome | None:
        """Post ``status`` to ``sha`` (default: the commit given to :meth:`start`), never raising.

        Returns:
            The outcome, or None when statuses are off or no commit is known.
        """
        scope = self._scope
        if scope is not None and scope.stage is status.stage and status.state != "pending":
            scope.finished = True
        sha = sha or (scope.sha if scope is not None else None)
        if not self.enabled or not sha:
            return None
        poster = self._get_poster()
        if poster is None:
            context.log.warning(f"commit status {status.context} not posted: {self._unavailable}")
            return None
        outcome = poster.post(status, sha=sha, target_url=self.run_url(context.run.run_id))
        if outcome.posted:
            context.log.info(
                f"commit status {status.context} = {status.state} on {sha[:12]}: "
                f"{status.description}"
            )
        else:
            context.log.warning(
                f"commit status {status.context} = {status.state} on {sha[:12]} not posted "
                f"after {outcome.attempts} attempt(s): {outcome.error}"
            )
        return outcome

    def begin_scope(self, stage: Stage) -> StageScope:
        """Start tracking one asset body (used by ``reports_commit_status``)."""
        self._scope = StageScope(stage=stage)
        return self._scope

    def end_scope(self, context: Context, error: BaseException | None) -> None:
        """Stop tracking; a body that started, then raised without reporting gets ``error``."""
        scope, self._scope = self._scope, None
        if error is None or scope is None or scope.finished or not scope.model:
            return
        self.report(context, stage_error(scope.stage, scope.model, error), sha=scope.sha)

    def github_repository(self) -> str | None:
        """``owner/name`` of the models repo on GitHub: ``repository``, else read from the
        models repo's remote (once per resource instance; None when it is not on GitHub)."""
        if self._repository is None:
            self._repository = (
                self.repository
                or (
                    repository_for_models_repo(self.models_repo, api_url=self.api_url)
                    if self.models_repo
                    else None
                ),
            )
        return self._repository[0]

    def commit_url(self, sha: str) -> str | None:
        """The commit's page on GitHub, when the models repo is there (no token needed)."""
        return commit_url(self.github_repository(), sha, api_url=self.api_url)

    def commit_link_metadata(self, sha: str) -> dict[str, dg.MetadataValue]:
        """``{"commit_url": <link to the commit>}`` for asset metadata, or ``{}`` off GitHub."""
        url = self.commit_url(sha)
        return {"commit_url": dg.MetadataValue.url(url)} if url else {}

    def _get_poster(self) -> CommitStatusPoster | None:
        if self._poster is None and self._unavailable is None and self.token:
            repository = self.github_repository()
            if repository is None or not valid_repository(repository):
                self._unavailable = (
                    f"no GitHub repository: set LLM_PLATFORM_GITHUB_REPOSITORY=owner/name "
                    f"(got {repository!r}) or use a models repo whose remote is on "
                    f"{self.api_url}"
                )
            else:
                try:
                    self._poster = CommitStatusPoster(
                        token=self.token,
                        repository=repository,
                        api_url=self.api_url,
                        attempts=self.attempts,
                        backoff_s=self.backoff_seconds,
                        timeout_s=self.timeout_seconds,
                    )
                except Exception as exc:  # a broken client install must not fail the run
                    self._unavailable = f"GitHub client unavailable: {type(exc).__name__}: {exc}"
        return self._poster
