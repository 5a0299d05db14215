"""Notifications as a Dagster resource: each environment's webhook, else the global one, else
the log.

Wire every URL through ``dg.EnvVar`` — ``slack_webhook_url=dg.EnvVar("SLACK_WEBHOOK_URL")`` and
``environment_webhooks={"SLACK_WEBHOOK_PRODUCTION": dg.EnvVar("SLACK_WEBHOOK_PRODUCTION")}`` —
so the UI shows variable names, never values. ``config/<env>.yaml`` names the variable of its
environment (``monitoring.alert_manager_webhook``, see ``llm_platform/reporting/routes.py``); the
resource reads that file at the branch head when it sends, so a change to the routing takes
effect with the next message. Log lines name the destination variable, never a URL.
"""

from __future__ import annotations

import logging
from pathlib import Path

import dagster as dg
from pydantic import Field, PrivateAttr

from llm_platform.common.repo_layout import DEFAULT_BRANCH
from llm_platform.config import ConfigError
from llm_platform.config.at_commit import environment_config_at
from llm_platform.gitops import GitError, GitRepo
from llm_platform.promotion.ledger import LedgerEvent
from llm_platform.reporting.announcements import build_message
from llm_platform.reporting.failure_alerts import RunFailure, failure_message, run_url
from llm_platform.reporting.message import Message
from llm_platform.reporting.notify import Dispatcher
from llm_platform.reporting.routes import GLOBAL_WEBHOOK_ENV, Route, choose_route
from llm_platform.settings import DEFAULT_DAGSTER_URL

logger = logging.getLogger(__name__)


class NotifierResource(dg.ConfigurableResource):
    """Announces staging results, promotions, refusals, rollbacks, failed checks and failed runs.

    Each message about an environment goes to the webhook its ``config/<env>.yaml`` names when
    that variable is set here, else to ``slack_webhook_url``, else only to the log. A failed
    Slack delivery is logged as an error (status, never the URL) and, with ``raise_on_error``,
    raised, so a Slack outage does not fail a rollback by default.
    """

    slack_webhook_url: str | None = Field(
        default=None,
        repr=False,
        description="Global Slack incoming-webhook URL (secret: set it through dg.EnvVar). "
        "Unset: environments without their own webhook are only logged.",
    )
    environment_webhooks: dict[str, str] = Field(
        default_factory=dict,
        repr=False,
        description="Per-environment webhooks: variable name (SLACK_WEBHOOK_<NAME>, as named by "
        "monitoring.alert_manager_webhook) -> URL (secret: each value a dg.EnvVar).",
    )
    # Plain fields, not a nested ModelsRepoResource: a resource with a nested resource must be
    # opened as a context manager, which every sensor context built with these resources would
    # then need.
    models_repo: str | None = Field(
        default=None,
        description="Models repo (path or git URL) whose config/<env>.yaml names each "
        "environment's webhook (None: the global webhook only).",
    )
    models_branch: str = Field(default=DEFAULT_BRANCH, description="Branch whose head is read.")
    git_cache_dir: str | None = Field(default=None, description="Cache of a remote repo.")
    dagster_url: str = Field(
        default=DEFAULT_DAGSTER_URL, description="Dagster UI base URL, for run links."
    )
    raise_on_error: bool = Field(
        default=False, description="Raise when a Slack message cannot be delivered."
    )
    timeout_seconds: int = Field(default=10, ge=1, description="Slack request timeout.")

    _dispatcher: Dispatcher | None = PrivateAttr(default=None)
    _repo: GitRepo | None = PrivateAttr(default=None)

    def __repr__(self) -> str:
        slack = "configured" if self.slack_webhook_url else "off"
        envs = ",".join(sorted(self.environment_webhooks)) or "none"
        return (
            f"NotifierResource(slack={slack}, environment_webhooks={envs}, "
            f"raise_on_error={self.raise_on_error})"
        )

    __str__ = __repr__

    @property
    def slack_enabled(self) -> bool:
        """Whether any message can go to a webhook (as opposed to the log only)."""
        return bool(self.slack_webhook_url) or any(self.environment_webhooks.values())

    def _urls(self) -> dict[str, str]:
        urls = {name: url for name, url in self.environment_webhooks.items() if url}
        if self.slack_webhook_url:
            urls[GLOBAL_WEBHOOK_ENV] = self.slack_webhook_url
        return urls

    def _environment_webhook(self, environment: str) -> str | None:
        """``monitoring.alert_manager_webhook`` of ``config/<environment>.yaml`` at the branch
        head; ``None`` (global webhook, with a warning) when the file cannot be read."""
        if self.models_repo is None:
            return None
        try:
            if self._repo is None:
                cache = Path(self.git_cache_dir) if self.git_cache_dir else None
                self._repo = GitRepo(self.models_repo, branch=self.models_branch, cache_dir=cache)
            repo = self._repo
            config = environment_config_at(repo, repo.head(), environment)
        except (GitError, ConfigError) as exc:
            logger.warning("alerts for %s go to the global webhook: %s", environment, exc)
            return None
        return config.monitoring.alert_manager_webhook

    def route(self, environment: str | None) -> Route:
        """Where a message about ``environment`` (None: no environment) goes."""
        named = self._environment_webhook(environment) if environment else None
        route = choose_route(named, available=self._urls().keys(), environment=environment)
        if route.problem:
            logger.warning("%s", route.problem)
        return route

    def run_url(self, run_id: str) -> str:
        """The run's page in the Dagster UI."""
        return run_url(self.dagster_url, run_id)

    def notify(self, event: LedgerEvent | Message, *, environment: str | None = None) -> bool:
        """Send a notification for a ledger event (or a prebuilt message).

        The message is always logged; with a webhook for its environment (a ledger event's
        ``env``, else ``environment``) or a global one it is also posted.

        Returns:
            True when delivered, False when the webhook delivery failed (and was logged).

        Raises:
            NotificationError: Delivery failed and ``raise_on_error`` is set.
        """
        if isinstance(event, Message):
            return self.deliver(event, environment=environment)
        run_link = self.run_url(event.run_id) if event.run_id else None
        return self.deliver(build_message(event, run_url=run_link), environment=event.env)

    def notify_failure(self, failure: RunFailure) -> bool:
        """Announce a failed run to the webhook of the environment its stage belongs to."""
        return self.deliver(failure_message(failure), environment=failure.environment)

    def deliver(self, message: Message, *, environment: str | None) -> bool:
        """Log ``message`` and post it along the route of ``environment``.

        Returns:
            True when delivered, False when the webhook delivery failed (and was logged).

        Raises:
            NotificationError: Delivery failed and ``raise_on_error`` is set.
        """
        if self._dispatcher is None:
            self._dispatcher = Dispatcher(
                self._urls(), timeout=self.timeout_seconds, raise_on_error=self.raise_on_error
            )
        return self._dispatcher.deliver(message, self.route(environment))
