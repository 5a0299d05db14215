"""The in-cluster Prometheus, found from monitoring.prometheus_namespace through the official
client against kmock's emulated API server (real HTTP)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from llm_platform.slo.endpoint import PrometheusNotConfigured, resolve_prometheus_url
from llm_platform.targets.kubernetes.api import api_client
from llm_platform.targets.kubernetes.prometheus import (
    PrometheusDiscoveryError,
    discover_prometheus_url,
    scrape_annotations,
)
from resources.prometheus import PrometheusResource
from tests.helpers.config_fixtures import env_dict, model_dict, to_yaml
from tests.helpers.kube_emulator_fixtures import EmulatedCluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def service(
    name: str,
    namespace: str,
    *,
    labels: dict[str, str],
    ports: list[dict] | None = None,
) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {"ports": ports or [{"name": "http", "port": 80, "targetPort": 9090}]},
    }


PROM = {"app.kubernetes.io/name": "prometheus"}


def discover(kubeconfig: Path, namespace: str = "monitoring") -> str:
    with api_client(str(kubeconfig)) as api:
        return discover_prometheus_url(api, namespace)


def test_the_labelled_service_in_the_monitoring_namespace_is_found(core, kubeconfig):
    core.create_namespaced_service("monitoring", service("grafana", "monitoring", labels={}))
    core.create_namespaced_service("monitoring", service("prom-server", "monitoring", labels=PROM))
    # A Prometheus in another namespace is not this environment's.
    core.create_namespaced_service("other", service("prom-x", "other", labels=PROM))
    assert discover(kubeconfig) == "http://prom-server.monitoring.svc:80"
    assert discover(kubeconfig, "other") == "http://prom-x.other.svc:80"


def test_operator_port_name_and_server_component_win(core, kubeconfig):
    ports = [{"name": "reloader", "port": 8080}, {"name": "web", "port": 9090}]
    core.create_namespaced_service(
        "obs", service("prometheus-operated", "obs", labels=PROM, ports=ports)
    )
    assert discover(kubeconfig, "obs") == "http://prometheus-operated.obs.svc:9090"
    server = {**PROM, "app.kubernetes.io/component": "server"}
    core.create_namespaced_service("obs", service("prom-main", "obs", labels=server))
    assert discover(kubeconfig, "obs") == "http://prom-main.obs.svc:80"


def test_none_or_several_is_an_error_naming_what_to_set(core, kubeconfig):
    with pytest.raises(
        PrometheusDiscoveryError, match="no Service labelled .* namespace monitoring"
    ):
        discover(kubeconfig)
    core.create_namespaced_service("monitoring", service("a", "monitoring", labels=PROM))
    core.create_namespaced_service("monitoring", service("b", "monitoring", labels=PROM))
    with pytest.raises(PrometheusDiscoveryError, match=r"several .*\(a, b\); set PROMETHEUS_URL"):
        discover(kubeconfig)


def test_a_service_without_a_usable_port_is_an_error(core, kubeconfig):
    ports = [{"name": "a", "port": 1}, {"name": "b", "port": 2}]
    core.create_namespaced_service(
        "monitoring", service("p", "monitoring", labels=PROM, ports=ports)
    )
    with pytest.raises(PrometheusDiscoveryError, match="no port named"):
        discover(kubeconfig)


def test_resolution_order_env_url_wins_then_the_cluster(core, kubeconfig, tmp_path):
    core.create_namespaced_service("monitoring", service("prom", "monitoring", labels=PROM))
    found = "http://prom.monitoring.svc:80"
    with api_client(str(kubeconfig)) as api:
        assert (
            resolve_prometheus_url(
                environ={},
                home=tmp_path,
                discover=lambda: discover_prometheus_url(api, "monitoring"),
            )
            == found
        )
        explicit = resolve_prometheus_url(
            environ={"PROMETHEUS_URL": "http://given:9090/"},
            home=tmp_path,
            discover=lambda: discover_prometheus_url(api, "monitoring"),
        )
        assert explicit == "http://given:9090"
    resource = PrometheusResource(
        target="kubernetes", kubeconfig=str(kubeconfig), home=str(tmp_path)
    )
    assert resource.resolved_url(monitoring_namespace="monitoring") == found
    with pytest.raises(PrometheusNotConfigured, match="namespace elsewhere"):
        resource.resolved_url(monitoring_namespace="elsewhere")
    # On the local target the cluster is never asked.
    local = PrometheusResource(kubeconfig=str(kubeconfig), home=str(tmp_path))
    with pytest.raises(PrometheusNotConfigured, match="embedded stack"):
        local.resolved_url(monitoring_namespace="monitoring")


def test_an_unreachable_cluster_is_not_configured_not_a_guess(tmp_path):
    dead = EmulatedCluster()
    config = dead.write_kubeconfig(tmp_path / "dead")
    dead.stop()
    resource = PrometheusResource(target="kubernetes", kubeconfig=str(config), home=str(tmp_path))
    with pytest.raises(
        PrometheusDiscoveryError, match="cannot list services in namespace monitoring"
    ):
        resource.resolved_url(monitoring_namespace="monitoring")


def test_scrape_annotations():
    assert scrape_annotations(8080, "/metrics") == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8080",
        "prometheus.io/path": "/metrics",
    }


def test_slo_check_cli_on_the_kubernetes_target_asks_the_cluster(core, kubeconfig, tmp_path):
    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    (repo / "config" / "staging.yaml").write_bytes(to_yaml(env_dict()))
    (repo / "models" / "m1").mkdir(parents=True)
    (repo / "models" / "m1" / "model.yaml").write_bytes(to_yaml(model_dict(name="m1")))
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_URL"}
    env |= {
        "LLM_PLATFORM_HOME": str(tmp_path / "home"),
        "LLM_PLATFORM_TARGET": "kubernetes",
        "KUBECONFIG": str(kubeconfig),
        "COLUMNS": "200",
    }
    cli = Path(sys.executable).parent / "llm-platform"
    args = [str(cli), "slo", "check", "--env", "staging", "--model", "m1", "--repo", str(repo)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no Service labelled app.kubernetes.io/name=prometheus" in result.stderr
    assert "namespace monitoring" in result.stderr
