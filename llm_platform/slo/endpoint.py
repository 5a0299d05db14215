"""Which Prometheus the SLO checks ask: one rule for the CLI and the Dagster resource.

An explicit URL (``--prometheus``, or the resource's configured ``url``) wins; else
``PROMETHEUS_URL``; else the Prometheus of this home's embedded stack, but only while the process
the stack recorded is still running (a recorded URL whose port now belongs to another stack must
not answer for this one). None of these is :class:`PrometheusNotConfigured`, never a guess such
as ``127.0.0.1:9090``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from llm_platform.runtime.processes import is_our_process
from llm_platform.runtime.stack import PROMETHEUS, default_home, load_stack
from llm_platform.settings import PROMETHEUS_URL_ENV
from llm_platform.slo.prom import PrometheusError


class PrometheusNotConfigured(PrometheusError):
    """No Prometheus to ask: no URL given, none in the environment, no running embedded stack."""


def resolve_prometheus_url(
    explicit: str | None = None,
    *,
    home: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The Prometheus base URL the SLO checks use.

    Args:
        explicit: A URL given on the command line or in resource config (wins when set).
        home: The platform home whose embedded stack to use (default: ``LLM_PLATFORM_HOME``,
            else ``./.llm-platform``).
        environ: Environment variables (default: ``os.environ``).

    Returns:
        The URL, without a trailing slash.

    Raises:
        PrometheusNotConfigured: None of the three sources gives a usable Prometheus; the message
            names each place that was looked at.
    """
    env = os.environ if environ is None else environ
    url = explicit or env.get(PROMETHEUS_URL_ENV)
    if url:
        return url.rstrip("/")
    home = (home or default_home(dict(env))).resolve()
    info = load_stack(home)
    if info.prometheus_url and is_our_process(
        info.pids.get(PROMETHEUS), info.commands.get(PROMETHEUS, [])
    ):
        return info.prometheus_url.rstrip("/")
    stack = (
        f"the embedded stack of {home} recorded {info.prometheus_url} but it is not running"
        if info.prometheus_url
        else f"no embedded stack runs in {home}"
    )
    raise PrometheusNotConfigured(
        f"no Prometheus to ask: no --prometheus given, {PROMETHEUS_URL_ENV} is not set and "
        f"{stack} (start it with `llm-platform stack up`)"
    )
