"""Prometheus as a Dagster resource: the cluster's, or the embedded stack's."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from llm_platform.runtime.stack import load_stack
from llm_platform.slo import PrometheusClient, PrometheusError


class PrometheusResource(dg.ConfigurableResource):
    """Where SLO checks query metrics.

    ``url`` wins when set (``PROMETHEUS_URL``); otherwise the URL the embedded stack recorded
    in ``home/stack.json`` when ``llm-platform stack up`` started Prometheus. Neither present is
    an error, never a pass.
    """

    url: str | None = None
    home: str | None = None
    timeout_s: float = 30.0

    def resolved_url(self) -> str:
        """The Prometheus base URL.

        Raises:
            PrometheusError: no URL configured and no embedded Prometheus recorded.
        """
        if self.url:
            return self.url
        if self.home:
            recorded = load_stack(Path(self.home)).prometheus_url
            if recorded:
                return recorded
        raise PrometheusError(
            "no Prometheus configured: set PROMETHEUS_URL or run `llm-platform stack up`"
        )

    def client(self) -> PrometheusClient:
        """A client for instant queries (use as a context manager)."""
        return PrometheusClient(self.resolved_url(), timeout=self.timeout_s)
