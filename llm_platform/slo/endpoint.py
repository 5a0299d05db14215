"""Which Prometheus the SLO checks ask, and with which credentials: one rule for all callers.

An explicit URL (``--prometheus``, or the resource's configured ``url``) wins; else
``PROMETHEUS_URL``; on the Kubernetes target, the in-cluster Prometheus of the environment's
``monitoring.prometheus_namespace``; else the Prometheus of this home's embedded stack, but only
while the process
the stack recorded is still running (a recorded URL whose port now belongs to another stack must
not answer for this one). None of these is :class:`PrometheusNotConfigured`, never a guess such
as ``127.0.0.1:9090``.

A secured Prometheus gets ``PROMETHEUS_BEARER_TOKEN`` and/or ``PROMETHEUS_HEADERS`` (secrets:
read from the environment, or from ``dg.EnvVar`` in the Dagster resource; never logged).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from llm_platform.common.errors import ConfigurationError
from llm_platform.settings import (
    PROMETHEUS_BEARER_TOKEN_ENV,
    PROMETHEUS_HEADERS_ENV,
    PROMETHEUS_URL_ENV,
)
from llm_platform.slo.prom import PrometheusClient, PrometheusError
from llm_platform.targets.local.processes import is_our_process
from llm_platform.targets.local.stack import (
    PROMETHEUS,
    default_home,
    load_stack,
    stack_from_pid_files,
)

log = logging.getLogger(__name__)


class PrometheusNotConfigured(PrometheusError):
    """No Prometheus to ask: no URL given, none in the environment, no running embedded stack."""


def resolve_prometheus_url(
    explicit: str | None = None,
    *,
    home: Path | None = None,
    environ: Mapping[str, str] | None = None,
    discover: Callable[[], str] | None = None,
) -> str:
    """The Prometheus base URL the SLO checks use.

    Args:
        explicit: A URL given on the command line or in resource config (wins when set).
        home: The platform home whose embedded stack to use (default: ``LLM_PLATFORM_HOME``,
            else ``./.llm-platform``).
        environ: Environment variables (default: ``os.environ``).
        discover: On a cluster target, finds the in-cluster Prometheus (used instead of the
            embedded stack, e.g. :func:`llm_platform.targets.kubernetes.prometheus
            .discover_prometheus_url`); it raises :class:`PrometheusNotConfigured` when it
            finds none.

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
    if discover is not None:
        return discover().rstrip("/")
    home = (home or default_home(dict(env))).resolve()
    try:
        info = load_stack(home)
    except ConfigurationError as exc:
        # A damaged stack.json: the pid files still say which Prometheus this home started
        # (its command line is verified in /proc below), so checks go on until `stack up`.
        log.warning("%s; finding the embedded Prometheus from the pid files", exc)
        info, damaged = stack_from_pid_files(home), f" (and its state is unreadable: {exc})"
    else:
        damaged = ""
    if info.prometheus_url and is_our_process(
        info.pids.get(PROMETHEUS), info.commands.get(PROMETHEUS, [])
    ):
        return info.prometheus_url.rstrip("/")
    stack = (
        f"the embedded stack of {home} recorded {info.prometheus_url} but it is not running"
        if info.prometheus_url
        else f"no embedded stack runs in {home}{damaged}"
    )
    raise PrometheusNotConfigured(
        f"no Prometheus to ask: no --prometheus given, {PROMETHEUS_URL_ENV} is not set and "
        f"{stack} (start it with `llm-platform stack up`)"
    )


class PrometheusAuthConfigError(PrometheusError):
    """The Prometheus auth variables are set but unusable (the message never holds a value)."""


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _header_value_ok(value: str) -> bool:
    return not any(c in value for c in "\r\n\0")


def _header_ok(name: object, value: object) -> bool:
    return (
        isinstance(name, str)
        and bool(_HEADER_NAME.match(name))
        and isinstance(value, str)
        and _header_value_ok(value)
    )


def auth_headers(*, bearer_token: str | None, headers_json: str | None) -> dict[str, str]:
    """The HTTP headers for a secured Prometheus, from the two secret settings.

    Args:
        bearer_token: ``PROMETHEUS_BEARER_TOKEN`` (sent as ``Authorization: Bearer ...``).
        headers_json: ``PROMETHEUS_HEADERS``, a JSON object of header name -> value.

    Returns:
        The headers (empty when neither is set).

    Raises:
        PrometheusAuthConfigError: Either value is malformed, or both set ``Authorization``.
            The message names the variable and the rule, never the value.
    """
    headers: dict[str, str] = {}
    if headers_json:
        try:
            parsed = json.loads(headers_json)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) or not all(_header_ok(k, v) for k, v in parsed.items()):
            raise PrometheusAuthConfigError(
                f"{PROMETHEUS_HEADERS_ENV} must be a JSON object of header names to string "
                'values without line breaks, e.g. {"X-Scope-OrgID": "team-a"}'
            )
        headers.update(parsed)
    if bearer_token:
        token = bearer_token.strip()
        if not token or any(c.isspace() for c in token) or not _header_value_ok(token):
            raise PrometheusAuthConfigError(
                f"{PROMETHEUS_BEARER_TOKEN_ENV} must be one token without spaces or line breaks"
            )
        if any(name.lower() == "authorization" for name in headers):
            raise PrometheusAuthConfigError(
                f"{PROMETHEUS_BEARER_TOKEN_ENV} and an Authorization header in "
                f"{PROMETHEUS_HEADERS_ENV} are both set: keep one"
            )
        headers["Authorization"] = f"Bearer {token}"
    return headers


def connect(
    url: str, *, timeout: float = 30.0, environ: Mapping[str, str] | None = None
) -> PrometheusClient:
    """A client for ``url`` carrying the auth headers from the environment variables.

    Raises:
        PrometheusAuthConfigError: The auth variables are malformed.
    """
    env = os.environ if environ is None else environ
    headers = auth_headers(
        bearer_token=env.get(PROMETHEUS_BEARER_TOKEN_ENV),
        headers_json=env.get(PROMETHEUS_HEADERS_ENV),
    )
    return PrometheusClient(url, timeout=timeout, headers=headers)
