"""The channel registry: every place a message can go, one module each, listed once below.

A channel is a module here with a :class:`~llm_platform.reporting.channels.base.Notifier`
(``send(message)``: render the neutral message, deliver it) and a ``CHANNEL`` spec naming its
environment variables. Routing, the environment-config check, the settings' discovery of
webhook variables and the notifier resource all read :data:`CHANNELS`; adding a channel is a new
module and one line in the table.
"""

from __future__ import annotations

from llm_platform.reporting.channels import log, slack
from llm_platform.reporting.channels.base import ChannelSpec, Webhooks

#: Every channel: the log first (where messages go when no webhook is set), then the webhook
#: channels, in the order their global webhooks are preferred.
CHANNELS: tuple[ChannelSpec, ...] = (log.CHANNEL, slack.CHANNEL)

LOG = log.CHANNEL


def webhook_channels() -> list[tuple[ChannelSpec, Webhooks]]:
    """The channels configured by webhook variables, with their variables, in table order."""
    return [(spec, spec.webhooks) for spec in CHANNELS if spec.webhooks is not None]


def channel_of(destination: str) -> ChannelSpec | None:
    """The channel a destination belongs to: the log's name, or a webhook variable's prefix."""
    if destination == LOG.name:
        return LOG
    for spec, hooks in webhook_channels():
        if destination.startswith(hooks.prefix):
            return spec
    return None
