"""Talk to the API server through the official client: server-side apply, get, list, delete,
watch; conflicts (409) and server errors (5xx) retried with backoff, 403 as an RBAC error.

Paths are built from the manifest's ``apiVersion`` and ``kind`` (the kinds the platform renders),
so one code path serves core kinds and KServe's custom resources alike.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import urllib3
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from llm_platform.targets.kubernetes.api import KubernetesApiError, RbacDenied
from llm_platform.targets.kubernetes.names import MANAGER

log = logging.getLogger(__name__)

#: Plural resource names of every kind the platform renders.
PLURALS: dict[str, str] = {
    "Deployment": "deployments",
    "Service": "services",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "InferenceService": "inferenceservices",
    "ServingRuntime": "servingruntimes",
    "ClusterStorageContainer": "clusterstoragecontainers",
    "Node": "nodes",
    "PrometheusRule": "prometheusrules",
}
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
RETRY_STATUSES = frozenset({409, 429, 500, 502, 503, 504})


def api_path(api_version: str, kind: str, namespace: str | None, name: str | None = None) -> str:
    """The REST path of a kind's collection (or of one object when ``name`` is given)."""
    plural = PLURALS[kind]
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    ns = f"/namespaces/{namespace}" if namespace else ""
    return f"{base}{ns}/{plural}" + (f"/{name}" if name else "")


def resource_name(api_version: str, kind: str) -> str:
    """``plural.group`` as RBAC rules name it (``plural`` for the core group)."""
    group = api_version.rpartition("/")[0]
    return f"{PLURALS[kind]}.{group}" if group else PLURALS[kind]


def _reason(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except (ValueError, AttributeError):
        return str(exc.reason)


class Cluster:
    """The API operations the runtime needs, with retries and typed errors.

    Args:
        api: A configured ``kubernetes.client.ApiClient``.
        field_manager: Server-side apply field manager (owner of the fields the platform sets).
        attempts: Tries per request for 409 / 429 / 5xx.
        backoff_s: First retry delay; doubled per retry.
        sleep: Waits between retries (replaceable in tests).
    """

    def __init__(
        self,
        api: ApiClient,
        *,
        field_manager: str = MANAGER,
        attempts: int = 5,
        backoff_s: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api
        self.field_manager = field_manager
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.sleep = sleep

    def _call(
        self,
        verb: str,
        method: str,
        path: str,
        *,
        api_version: str,
        kind: str,
        namespace: str | None,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> Any:
        what = f"{kind} {path}"
        delay = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            try:
                headers = {"Accept": "application/json"}
                if content_type:
                    headers["Content-Type"] = content_type
                return self.api.call_api(
                    path,
                    method,
                    query_params=query or [],
                    header_params=headers,
                    body=body,
                    response_type="object",
                    auth_settings=["BearerToken"],
                    _return_http_data_only=True,
                    _preload_content=True,
                )
            except ApiException as exc:
                if exc.status == 403:
                    raise RbacDenied(
                        verb, resource_name(api_version, kind), namespace, _reason(exc)
                    ) from exc
                if exc.status not in RETRY_STATUSES or attempt == self.attempts:
                    raise KubernetesApiError.refused(verb, what, exc.status, _reason(exc)) from exc
                log.warning(
                    "%s %s: HTTP %s, retry %d in %.2fs", verb, what, exc.status, attempt, delay
                )
            self.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply ``manifest`` (created when absent); returns the server's object."""
        meta = manifest["metadata"]
        api_version, kind = manifest["apiVersion"], manifest["kind"]
        return dict(
            self._call(
                "patch",
                "PATCH",
                api_path(api_version, kind, meta.get("namespace"), meta["name"]),
                api_version=api_version,
                kind=kind,
                namespace=meta.get("namespace"),
                query=[("fieldManager", self.field_manager), ("force", "true")],
                body=manifest,
                content_type=APPLY_CONTENT_TYPE,
            )
        )

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return dict(
                self._call(
                    "get",
                    "GET",
                    api_path(api_version, kind, namespace, name),
                    api_version=api_version,
                    kind=kind,
                    namespace=namespace,
                )
            )
        except KubernetesApiError as exc:
            if exc.status == 404:
                return None
            raise

    def list(
        self, api_version: str, kind: str, namespace: str | None, labels: dict[str, str]
    ) -> list[dict[str, Any]]:
        """Objects carrying ``labels`` (none when the kind is not served, e.g. no KServe)."""
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        try:
            found = self._call(
                "list",
                "GET",
                api_path(api_version, kind, namespace),
                api_version=api_version,
                kind=kind,
                namespace=namespace,
                query=[("labelSelector", selector)],
            )
        except KubernetesApiError as exc:
            if exc.status == 404:
                return []
            raise
        items = [dict(i) for i in (found or {}).get("items", [])]
        return [i for i in items if _has_labels(i, labels)]

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """Delete the object; False when it did not exist."""
        try:
            self._call(
                "delete",
                "DELETE",
                api_path(api_version, kind, namespace, name),
                api_version=api_version,
                kind=kind,
                namespace=namespace,
                query=[("propagationPolicy", "Background")],
            )
        except KubernetesApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def watch(
        self,
        api_version: str,
        kind: str,
        namespace: str,
        labels: dict[str, str],
        *,
        timeout_s: float,
    ) -> Iterator[dict[str, Any]]:
        """Objects of ``kind`` with ``labels`` as they change, until ``timeout_s`` passes.

        The server is asked to end the stream at the timeout, and reads time out on our side
        as well, so a server that ignores ``timeoutSeconds`` cannot hold the caller longer.
        """
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        deadline = time.monotonic() + timeout_s
        try:
            response = self.api.call_api(
                api_path(api_version, kind, namespace),
                "GET",
                query_params=[
                    ("watch", "true"),
                    ("labelSelector", selector),
                    ("timeoutSeconds", str(max(1, int(timeout_s)))),
                ],
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
                _preload_content=False,
                _request_timeout=(5.0, max(0.1, timeout_s)),
            )
        except ApiException as exc:
            if exc.status == 403:
                raise RbacDenied(
                    "watch", resource_name(api_version, kind), namespace, _reason(exc)
                ) from exc
            raise KubernetesApiError.refused("watch", kind, exc.status, _reason(exc)) from exc
        buffer = b""
        try:
            for chunk in response.stream(4096, decode_content=True):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        event = json.loads(line)
                        obj = event.get("object") or {}
                        if event.get("type") in ("ADDED", "MODIFIED") and _has_labels(obj, labels):
                            yield dict(obj)
                if time.monotonic() >= deadline:
                    return
        except (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError):
            return  # the timeout: the caller re-checks and decides
        finally:
            response.release_conn()


def _has_labels(obj: dict[str, Any], labels: dict[str, str]) -> bool:
    have = (obj.get("metadata") or {}).get("labels") or {}
    return all(have.get(k) == v for k, v in labels.items())
