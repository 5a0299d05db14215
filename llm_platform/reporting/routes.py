"""Where a notification goes: its environment's webhook, else the global one, else the log.

A webhook URL (Slack's incoming webhook, or any channel's in
``llm_platform/reporting/channels/``) is a secret: whoever holds it can post to the channel. The
models repo is reviewed and read by many people, so ``monitoring.alert_manager_webhook`` in
``config/<env>.yaml`` never carries the URL. It *names an environment variable* of the Dagster
deployment (``SLACK_WEBHOOK_<NAME>``, e.g. ``SLACK_WEBHOOK_PRODUCTION``) that holds the URL. The
operator sets that variable; the composition root hands each such variable to the notifier as a
``dg.EnvVar`` (the UI shows names, never values). A URL in that key is a validation error.

The channels' prefixes also bound what a models-repo change can reach: it can choose among the
operator's webhooks, never make the platform read an unrelated variable such as ``KFP_TOKEN``.

This module depends only on the channel registry, so that the config schema, the settings and
the notifier can all share its names.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from llm_platform.common.repo_layout import environment_config_path
from llm_platform.reporting.channels import LOG, channel_of, webhook_channels
from llm_platform.reporting.channels.slack import CHANNEL as SLACK
from llm_platform.reporting.channels.slack import WEBHOOKS as SLACK_WEBHOOKS

#: Slack's global webhook (every environment without its own, and failures before any
#: environment): the composition root wires it as the notifier's ``slack_webhook_url``. Another
#: channel's global variable is wired like a per-environment one, and routing prefers the
#: global webhooks in the order of the channel table.
GLOBAL_WEBHOOK_ENV = SLACK_WEBHOOKS.global_env
_NAME_TAIL = re.compile(r"[A-Z0-9_]+$")

#: The destination label when nothing is configured: messages are only logged.
LOG_ONLY = LOG.name


def check_webhook_env_name(value: str) -> str:
    """Validate ``monitoring.alert_manager_webhook``: the *name* of a webhook variable.

    The error message never repeats the value (it may be a pasted webhook URL).

    Raises:
        ValueError: ``value`` is not ``SLACK_WEBHOOK_<NAME>`` (or another channel's prefix, then
            uppercase letters, digits, ``_``).
    """
    if is_webhook_env_name(value):
        return value
    what = "a URL" if "://" in value or value.startswith(("http", "hooks.")) else "not a name"
    prefixes = _prefixes()
    names = " or ".join(f"{prefix}<NAME>" for prefix in prefixes)
    raise ValueError(
        f"must name an environment variable that holds the webhook URL, "
        f"{names} in uppercase (e.g. {prefixes[0]}PRODUCTION); got "
        f"{what} (value not shown: a webhook URL committed to git is a leaked secret)"
    )


def _prefixes() -> list[str]:
    return [hooks.prefix for _, hooks in webhook_channels()]


def is_webhook_env_name(name: str) -> bool:
    """Whether ``name`` is a variable an environment config may name: a channel's prefix, then
    uppercase letters, digits and ``_``."""
    return any(
        name.startswith(prefix) and _NAME_TAIL.match(name[len(prefix) :]) is not None
        for prefix in _prefixes()
    )


@dataclass(frozen=True)
class Route:
    """Where one message goes.

    Attributes:
        destination: The environment variable whose webhook receives it (``SLACK_WEBHOOK_…``),
            or ``"log"`` when no webhook is configured. Safe to log: a name, never a URL. Its
            prefix names the channel.
        problem: Why the environment's own webhook was not used although it names one (the
            variable is not set in the deployment), else ``None``.
    """

    destination: str
    problem: str | None = None

    @property
    def channel(self) -> str:
        """The name of the channel that carries the message (``log``, ``slack``...)."""
        spec = channel_of(self.destination)
        return spec.name if spec is not None else LOG_ONLY

    @property
    def is_slack(self) -> bool:
        """Whether the message is posted to Slack."""
        return self.channel == SLACK.name


def choose_route(
    env_webhook: str | None,
    *,
    available: Collection[str],
    environment: str | None = None,
) -> Route:
    """The environment's webhook when it names one that is set, else a global one (the first
    channel's that is set), else the log.

    Args:
        env_webhook: ``monitoring.alert_manager_webhook`` of the environment (a variable name),
            or ``None`` for messages that belong to no environment.
        available: The webhook variables set in this deployment (names only).
        environment: The environment's name, for the problem message.

    Returns:
        The route. When ``env_webhook`` names a variable that is not set, the message falls back
        to the global webhook (or the log) and ``problem`` says so, so a typo never drops alerts.
    """
    globals_set = [h.global_env for _, h in webhook_channels() if h.global_env in available]
    fallback = globals_set[0] if globals_set else LOG_ONLY
    if env_webhook is None:
        return Route(fallback)
    if env_webhook in available:
        return Route(env_webhook)
    where = environment_config_path(environment) if environment else "the environment config"
    return Route(
        fallback,
        problem=f"{where} names {env_webhook} for alerts, but it is not set in this deployment; "
        f"sent to {fallback} instead",
    )
