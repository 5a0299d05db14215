"""A connection to the Kubernetes API through the official client, and its one error type.

Inside a pod the service account's in-cluster config is used; elsewhere a kubeconfig (the
given path, else ``KUBECONFIG`` / ``~/.kube/config`` as ``kubectl`` reads them).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError

from llm_platform.targets.base import RuntimeErrorBase

_IN_CLUSTER_ENV = "KUBERNETES_SERVICE_HOST"
#: Items per list request: large clusters are read in pages rather than one huge response.
PAGE_SIZE = 500


class KubernetesApiError(RuntimeErrorBase):
    """The Kubernetes API could not be used: no usable configuration, no answer, or a request
    refused or failed (after retries).

    ``status`` is the HTTP status (0: no answer at all); ``verb`` and ``what`` name the request
    when there was one.
    """

    def __init__(self, message: str, *, status: int = 0, verb: str = "", what: str = "") -> None:
        self.status, self.verb, self.what = status, verb, what
        super().__init__(message)

    @classmethod
    def refused(cls, verb: str, what: str, status: int | None, reason: str) -> KubernetesApiError:
        """The API server answered ``verb what`` with an error ``status``."""
        return cls(
            f"{verb} {what}: HTTP {status}: {reason}", status=status or 0, verb=verb, what=what
        )


class RbacDenied(KubernetesApiError):
    """403: the platform's service account lacks a permission; names the verb and resource."""

    def __init__(self, verb: str, resource: str, namespace: str | None, reason: str) -> None:
        self.resource, self.namespace = resource, namespace
        where = f"in namespace {namespace}" if namespace else "cluster-wide"
        super().__init__(
            f"RBAC: the platform may not {verb} {resource} {where} (HTTP 403: {reason}); "
            f"grant '{verb}' on '{resource}' to its service account's Role",
            status=403,
            verb=verb,
            what=resource,
        )


def api_client(kubeconfig: str | None = None, *, context: str | None = None) -> client.ApiClient:
    """A client for the cluster: in-cluster when running in a pod and no kubeconfig is given.

    Raises:
        KubernetesApiError: No usable in-cluster config or kubeconfig.
    """
    try:
        if kubeconfig is None and context is None and os.environ.get(_IN_CLUSTER_ENV):
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)
        else:
            configuration = client.Configuration()
            config.load_kube_config(
                # The client reads KUBECONFIG when imported; read it when the client is built.
                config_file=kubeconfig or os.environ.get("KUBECONFIG") or None,
                context=context,
                client_configuration=configuration,
            )
    except (ConfigException, OSError) as exc:
        where = kubeconfig or "KUBECONFIG / ~/.kube/config"
        raise KubernetesApiError(f"no Kubernetes configuration usable from {where}: {exc}") from exc
    return client.ApiClient(configuration)


def list_all(call: Callable[..., Any], what: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a list call (``CoreV1Api.list_node`` etc.), page by page, as JSON dicts.

    The raw JSON is kept (camelCase, quantities as strings): it is what the capacity maths and
    the selectors read, with no client-side model conversion in between.

    Raises:
        KubernetesApiError: The API refused or did not answer; the message names ``what``.
    """
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page_args = dict(kwargs, limit=PAGE_SIZE, _preload_content=False, _request_timeout=30)
        if token:
            page_args["_continue"] = token
        try:
            response = call(**page_args)
            body = json.loads(response.data)
        except ApiException as exc:
            hint = " (RBAC: the service account lacks this permission)" if exc.status == 403 else ""
            raise KubernetesApiError(
                f"cannot list {what}: HTTP {exc.status} {exc.reason}{hint}", status=exc.status or 0
            ) from exc
        except (HTTPError, OSError, ValueError) as exc:  # refused, timed out, not JSON
            raise KubernetesApiError(f"cannot list {what}: {exc}") from exc
        items.extend(body.get("items") or [])
        token = (body.get("metadata") or {}).get("continue") or None
        if not token:
            return items
