"""Prometheus as a Dagster resource: the cluster's, or the embedded stack's."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from llm_platform.slo import PrometheusClient
from llm_platform.slo.endpoint import auth_headers, resolve_prometheus_url


class PrometheusResource(dg.ConfigurableResource):
    """Where SLO checks query metrics.

    ``url`` wins when set (``PROMETHEUS_URL``); otherwise the Prometheus of the embedded stack
    of ``home``, while it runs (:func:`llm_platform.slo.endpoint.resolve_prometheus_url`, the
    rule ``llm-platform slo check`` follows too). Neither is an error, never a pass.

    A secured Prometheus: ``bearer_token`` and ``headers_json`` are set from
    ``dg.EnvVar("PROMETHEUS_BEARER_TOKEN")`` / ``dg.EnvVar("PROMETHEUS_HEADERS")`` so the UI
    shows the variables' names, never their values.
    """

    url: str | None = None
    home: str | None = None
    timeout_s: float = 30.0
    bearer_token: str | None = None
    headers_json: str | None = None

    def resolved_url(self) -> str:
        """The Prometheus base URL.

        Raises:
            PrometheusNotConfigured: no URL configured and no running embedded Prometheus.
        """
        return resolve_prometheus_url(self.url, home=Path(self.home) if self.home else None)

    def client(self) -> PrometheusClient:
        """A client for instant queries (use as a context manager).

        Raises:
            PrometheusNotConfigured: no Prometheus to ask.
            PrometheusAuthConfigError: the auth variables are malformed.
        """
        headers = auth_headers(bearer_token=self.bearer_token, headers_json=self.headers_json)
        return PrometheusClient(self.resolved_url(), timeout=self.timeout_s, headers=headers)
