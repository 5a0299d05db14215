"""A connection to the Kubernetes API through the official client, and its read errors as data.

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

from llm_platform.common.errors import PlatformError

_IN_CLUSTER_ENV = "KUBERNETES_SERVICE_HOST"
#: Items per list request: large clusters are read in pages rather than one huge response.
PAGE_SIZE = 500


class ClusterAccessError(PlatformError):
    """The cluster could not be read; ``status`` is the HTTP status (0: no answer at all)."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        self.status = status
        super().__init__(message)


def api_client(kubeconfig: str | None = None, *, context: str | None = None) -> client.ApiClient:
    """A client for the cluster: in-cluster when running in a pod and no kubeconfig is given.

    Raises:
        ClusterAccessError: No usable in-cluster config or kubeconfig.
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
        raise ClusterAccessError(f"no Kubernetes configuration usable from {where}: {exc}") from exc
    return client.ApiClient(configuration)


def list_all(call: Callable[..., Any], what: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item of a list call (``CoreV1Api.list_node`` etc.), page by page, as JSON dicts.

    The raw JSON is kept (camelCase, quantities as strings): it is what the capacity maths and
    the selectors read, with no client-side model conversion in between.

    Raises:
        ClusterAccessError: The API refused or did not answer; the message names ``what``.
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
            raise ClusterAccessError(
                f"cannot list {what}: HTTP {exc.status} {exc.reason}{hint}", status=exc.status or 0
            ) from exc
        except (HTTPError, OSError, ValueError) as exc:  # refused, timed out, not JSON
            raise ClusterAccessError(f"cannot list {what}: {exc}") from exc
        items.extend(body.get("items") or [])
        token = (body.get("metadata") or {}).get("continue") or None
        if not token:
            return items
