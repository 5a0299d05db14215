"""Prometheus as a Dagster resource: the target's own (e.g. the cluster's), or the embedded
stack's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from llm_platform.common.target_names import DEFAULT_TARGET
from llm_platform.slo import PrometheusClient
from llm_platform.slo.endpoint import auth_headers, resolve_prometheus_url
from llm_platform.targets.local.prometheus_rules import RulesInstall, install_rules, rule_file
from llm_platform.targets.options import TargetOptions
from llm_platform.targets.registry import TargetSpec, target_spec


class PrometheusResource(dg.ConfigurableResource):
    """Where SLO checks query metrics.

    ``url`` wins when set (``PROMETHEUS_URL``); otherwise, on a ``target`` with a Prometheus of
    its own (the Kubernetes target), the one its discovery finds (on Kubernetes, the Prometheus
    Service of the environment's ``monitoring.prometheus_namespace``, read through the API with
    ``kubeconfig``, else the pod's service account); otherwise the Prometheus of the embedded
    stack of ``home``, while it runs
    (:func:`llm_platform.slo.endpoint.resolve_prometheus_url`, the rule ``llm-platform slo
    check`` follows too). None of these is an error, never a pass.

    A secured Prometheus: ``bearer_token`` and ``headers_json`` are set from
    ``dg.EnvVar("PROMETHEUS_BEARER_TOKEN")`` / ``dg.EnvVar("PROMETHEUS_HEADERS")`` so the UI
    shows the variables' names, never their values.
    """

    url: str | None = None
    home: str | None = None
    timeout_s: float = 30.0
    bearer_token: str | None = None
    headers_json: str | None = None
    #: The deployment target (``LLM_PLATFORM_TARGET``), whose own Prometheus is asked if it has one.
    target: str = DEFAULT_TARGET
    kubeconfig: str | None = None
    #: ``LLM_PLATFORM_KUBECONFIG_<ENV>`` -> path: an environment's Prometheus is discovered in
    #: that environment's own cluster.
    kubeconfigs: dict[str, str] = {}

    def target_spec(self) -> TargetSpec:
        """The target's registry entry.

        Raises:
            UnknownTarget: ``target`` names none.
        """
        return target_spec(self.target)

    def resolved_url(self, *, monitoring_namespace: str, env: str | None = None) -> str:
        """The Prometheus base URL for environment ``env``, whose Prometheus lives in
        ``monitoring_namespace`` (used on a target with a Prometheus of its own only).

        Raises:
            PrometheusNotConfigured: no URL configured and none found (the target's own, or a
                running embedded Prometheus).
        """
        discover = self.target_spec().discover_prometheus
        options = TargetOptions(kubeconfig=self.kubeconfig, kubeconfigs=self.kubeconfigs)
        return resolve_prometheus_url(
            self.url,
            home=Path(self.home) if self.home else None,
            discover=None if discover is None else discover(monitoring_namespace, env, options),
        )

    def client(self, *, monitoring_namespace: str, env: str | None = None) -> PrometheusClient:
        """A client for instant queries (use as a context manager).

        Raises:
            PrometheusNotConfigured: no Prometheus to ask.
            PrometheusAuthConfigError: the auth variables are malformed.
        """
        headers = auth_headers(bearer_token=self.bearer_token, headers_json=self.headers_json)
        url = self.resolved_url(monitoring_namespace=monitoring_namespace, env=env)
        return PrometheusClient(url, timeout=self.timeout_s, headers=headers)

    def install_rules(self, rules_by_env: dict[str, dict[str, Any]]) -> RulesInstall | None:
        """Give the embedded Prometheus these SLO rules (written under ``home``, reloaded when
        they changed). None: the platform's Prometheus is the target's own (on Kubernetes the
        rules travel as ``PrometheusRule`` with the manifests) or there is no ``home``.

        Raises:
            RulesRejected: promtool or Prometheus rejected a file (the previous ones stay).
        """
        if self.target_spec().own_prometheus or not self.home:
            return None
        return install_rules(Path(self.home), rules_by_env)

    def has_rules(self, envs: list[str]) -> bool:
        """Whether the embedded Prometheus has a rule file for each of ``envs`` (always True
        for the target's own, which :meth:`install_rules` leaves alone)."""
        if self.target_spec().own_prometheus or not self.home:
            return True
        return all(rule_file(Path(self.home), env).exists() for env in envs)
