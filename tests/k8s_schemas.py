"""Strict validation of rendered manifests: core kinds through kubernetes-validate, KServe
kinds against the vendored CRD schemas (``tests/schemas/kserve``) with unknown fields refused."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate

KUBERNETES_VERSION = "1.30"
SCHEMAS = Path(__file__).parent / "schemas" / "kserve"
CRD_SCHEMAS = {
    ("serving.kserve.io/v1beta1", "InferenceService"): "inferenceservice-v1beta1.json",
    ("serving.kserve.io/v1alpha1", "ServingRuntime"): "servingruntime-v1alpha1.json",
    (
        "serving.kserve.io/v1alpha1",
        "ClusterStorageContainer",
    ): "clusterstoragecontainer-v1alpha1.json",
}


def _strict(node: Any) -> Any:
    """Refuse unknown fields the way the API server's strict field validation does."""
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        if out.get("x-kubernetes-int-or-string"):
            out.pop("type", None)
            out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


@cache
def crd_validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    """A strict validator of one KServe kind."""
    schema = json.loads((SCHEMAS / CRD_SCHEMAS[(api_version, kind)]).read_text())
    schema = _strict(copy.deepcopy(schema))
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)


def validate_manifest(manifest: dict[str, Any]) -> None:
    """Raise when ``manifest`` is not valid for its kind (strict: unknown fields fail)."""
    key = (manifest["apiVersion"], manifest["kind"])
    if key in CRD_SCHEMAS:
        errors = sorted(crd_validator(*key).iter_errors(manifest), key=str)
        if errors:
            raise AssertionError(
                f"{key[1]} {manifest['metadata']['name']}: "
                + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
            )
        return
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
