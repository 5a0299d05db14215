"""Where a notification goes: its environment's Slack webhook, else the global one, else the log.

A Slack incoming-webhook URL is a secret: whoever holds it can post to the channel. The models
repo is reviewed and read by many people, so ``monitoring.alert_manager_webhook`` in
``config/<env>.yaml`` never carries the URL. It *names an environment variable* of the Dagster
deployment (``SLACK_WEBHOOK_<NAME>``, e.g. ``SLACK_WEBHOOK_PRODUCTION``) that holds the URL. The
operator sets that variable; the composition root hands each such variable to the notifier as a
``dg.EnvVar`` (the UI shows names, never values). A URL in that key is a validation error.

The prefix also bounds what a models-repo change can reach: it can choose among the operator's
Slack webhooks, never make the platform read an unrelated variable such as ``KFP_TOKEN``.

This module is a leaf (no imports from the rest of the package) so that the config schema, the
settings and the notifier can all share its names.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

#: The global webhook (every environment without its own, and failures before any environment).
GLOBAL_WEBHOOK_ENV = "SLACK_WEBHOOK_URL"
#: Every variable an environment config may name starts with this.
WEBHOOK_ENV_PREFIX = "SLACK_WEBHOOK_"
_WEBHOOK_ENV_NAME = re.compile(rf"^{WEBHOOK_ENV_PREFIX}[A-Z0-9_]+$")

#: The destination label when nothing is configured: messages are only logged.
LOG_ONLY = "log"


def check_webhook_env_name(value: str) -> str:
    """Validate ``monitoring.alert_manager_webhook``: the *name* of a webhook variable.

    The error message never repeats the value (it may be a pasted webhook URL).

    Raises:
        ValueError: ``value`` is not ``SLACK_WEBHOOK_<NAME>`` (uppercase letters, digits, ``_``).
    """
    if _WEBHOOK_ENV_NAME.match(value):
        return value
    what = "a URL" if "://" in value or value.startswith(("http", "hooks.")) else "not a name"
    raise ValueError(
        f"must name an environment variable that holds the webhook URL, "
        f"{WEBHOOK_ENV_PREFIX}<NAME> in uppercase (e.g. {WEBHOOK_ENV_PREFIX}PRODUCTION); got "
        f"{what} (value not shown: a webhook URL committed to git is a leaked secret)"
    )


def is_webhook_env_name(name: str) -> bool:
    """Whether ``name`` is a variable an environment config may name."""
    return bool(_WEBHOOK_ENV_NAME.match(name))


@dataclass(frozen=True)
class Route:
    """Where one message goes.

    Attributes:
        destination: The environment variable whose webhook receives it (``SLACK_WEBHOOK_…``),
            or ``"log"`` when no webhook is configured. Safe to log: a name, never a URL.
        problem: Why the environment's own webhook was not used although it names one (the
            variable is not set in the deployment), else ``None``.
    """

    destination: str
    problem: str | None = None

    @property
    def is_slack(self) -> bool:
        """Whether the message is posted to a webhook (else only logged)."""
        return self.destination != LOG_ONLY


def choose_route(
    env_webhook: str | None,
    *,
    available: Collection[str],
    environment: str | None = None,
) -> Route:
    """The environment's webhook when it names one that is set, else the global one, else the log.

    Args:
        env_webhook: ``monitoring.alert_manager_webhook`` of the environment (a variable name),
            or ``None`` for messages that belong to no environment.
        available: The webhook variables set in this deployment (names only).
        environment: The environment's name, for the problem message.

    Returns:
        The route. When ``env_webhook`` names a variable that is not set, the message falls back
        to the global webhook (or the log) and ``problem`` says so, so a typo never drops alerts.
    """
    fallback = GLOBAL_WEBHOOK_ENV if GLOBAL_WEBHOOK_ENV in available else LOG_ONLY
    if env_webhook is None:
        return Route(fallback)
    if env_webhook in available:
        return Route(env_webhook)
    where = f"config/{environment}.yaml" if environment else "the environment config"
    return Route(
        fallback,
        problem=f"{where} names {env_webhook} for alerts, but it is not set in this deployment; "
        f"sent to {fallback} instead",
    )
