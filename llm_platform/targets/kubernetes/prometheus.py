"""The in-cluster Prometheus, found from ``monitoring.prometheus_namespace``, and the pod
annotations it scrapes by.

Without ``PROMETHEUS_URL`` the Kubernetes target asks the Prometheus whose Service carries
``app.kubernetes.io/name=prometheus`` in the environment's monitoring namespace, at
``http://<service>.<namespace>.svc:<port>``. Anything ambiguous is an error naming the
candidates, never a guess.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes import client

from llm_platform.settings import PROMETHEUS_URL_ENV
from llm_platform.slo.endpoint import PrometheusNotConfigured
from llm_platform.targets.kubernetes.api import KubernetesApiError, api_client, list_all

#: The label a Prometheus Service carries (the Prometheus community chart and the operator's
#: ``prometheus-operated`` Service both set it).
PROMETHEUS_NAME_LABEL = ("app.kubernetes.io/name", "prometheus")
_COMPONENT_LABEL = "app.kubernetes.io/component"
_PORT_NAMES = ("http", "web", "http-web")  # chart, operator, kube-prometheus-stack
DEFAULT_PROMETHEUS_PORT = 9090

#: Pod annotations the common Prometheus scrape configs discover targets by.
SCRAPE_ANNOTATION = "prometheus.io/scrape"
SCRAPE_PORT_ANNOTATION = "prometheus.io/port"
SCRAPE_PATH_ANNOTATION = "prometheus.io/path"


def scrape_annotations(port: int, path: str = "/metrics") -> dict[str, str]:
    """The annotations that make a pod's ``port``/``path`` a Prometheus scrape target."""
    return {
        SCRAPE_ANNOTATION: "true",
        SCRAPE_PORT_ANNOTATION: str(port),
        SCRAPE_PATH_ANNOTATION: path,
    }


class PrometheusDiscoveryError(PrometheusNotConfigured):
    """No single Prometheus Service in the monitoring namespace (the message says why)."""


def _labels(service: dict[str, Any]) -> dict[str, str]:
    return (service.get("metadata") or {}).get("labels") or {}


def _name(service: dict[str, Any]) -> str:
    return str((service.get("metadata") or {}).get("name") or "")


def _port(service: dict[str, Any], namespace: str) -> int:
    ports = (service.get("spec") or {}).get("ports") or []
    for wanted in _PORT_NAMES:
        for port in ports:
            if port.get("name") == wanted:
                return int(port["port"])
    if len(ports) == 1:
        return int(ports[0]["port"])
    if any(p.get("port") == DEFAULT_PROMETHEUS_PORT for p in ports):
        return DEFAULT_PROMETHEUS_PORT
    raise PrometheusDiscoveryError(
        f"Service {namespace}/{_name(service)} has no port named {' / '.join(_PORT_NAMES)} and "
        f"not exactly one port; set {PROMETHEUS_URL_ENV}"
    )


def discover_prometheus_url(api: client.ApiClient, namespace: str) -> str:
    """``http://<service>.<namespace>.svc:<port>`` of the Prometheus in ``namespace``.

    Among the Services labelled ``app.kubernetes.io/name=prometheus``, one with
    ``app.kubernetes.io/component=server`` wins when there are several.

    Raises:
        PrometheusDiscoveryError: none, several, or one without a usable port; or the
            Services cannot be listed (RBAC, no answer).
    """
    try:
        services = list_all(
            client.CoreV1Api(api).list_namespaced_service,
            f"services in namespace {namespace}",
            namespace=namespace,
        )
    except KubernetesApiError as exc:
        raise PrometheusDiscoveryError(
            f"{PROMETHEUS_URL_ENV} is not set and the in-cluster Prometheus cannot be looked "
            f"up: {exc}"
        ) from exc
    key, value = PROMETHEUS_NAME_LABEL
    found = [s for s in services if _labels(s).get(key) == value]
    if len(found) > 1:
        servers = [s for s in found if _labels(s).get(_COMPONENT_LABEL) == "server"]
        found = servers or found
    if not found:
        raise PrometheusDiscoveryError(
            f"{PROMETHEUS_URL_ENV} is not set and no Service labelled {key}={value} exists in "
            f"namespace {namespace} (monitoring.prometheus_namespace)"
        )
    if len(found) > 1:
        names = ", ".join(sorted(_name(s) for s in found))
        raise PrometheusDiscoveryError(
            f"several Prometheus Services in namespace {namespace} ({names}); set "
            f"{PROMETHEUS_URL_ENV} to the one the SLO checks should ask"
        )
    service = found[0]
    return f"http://{_name(service)}.{namespace}.svc:{_port(service, namespace)}"


def cluster_discovery(namespace: str, *, kubeconfig: str | None = None) -> Callable[[], str]:
    """A ``discover`` callable for :func:`llm_platform.slo.endpoint.resolve_prometheus_url`:
    connects (``kubeconfig``, else in-cluster / ``KUBECONFIG``) only when called."""

    def discover() -> str:
        try:
            api = api_client(kubeconfig)
        except KubernetesApiError as exc:
            raise PrometheusDiscoveryError(
                f"{PROMETHEUS_URL_ENV} is not set and the cluster cannot be reached: {exc}"
            ) from exc
        with api:
            return discover_prometheus_url(api, namespace)

    return discover
