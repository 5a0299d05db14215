"""Strict validation of rendered manifests: core kinds through kubernetes-validate, KServe
kinds against the vendored CRD schemas (``tests/schemas/kserve``) with unknown fields refused."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

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


def validate_prometheus_rule(manifest: dict[str, Any]) -> None:
    """A ``monitoring.coreos.com/v1`` PrometheusRule (no CRD schema is vendored): the CRD's
    structure -- metadata name/namespace, ``spec.groups[]`` of ``{name, interval?, rules}``,
    each rule ``record`` xor ``alert`` with ``expr`` and string-valued labels/annotations, no
    other fields -- and ``promtool check rules`` on the groups."""
    assert set(manifest) == {"apiVersion", "kind", "metadata", "spec"}, sorted(manifest)
    meta = manifest["metadata"]
    assert meta["name"] and meta["namespace"]
    assert set(manifest["spec"]) == {"groups"} and manifest["spec"]["groups"]
    for group in manifest["spec"]["groups"]:
        assert set(group) <= {"name", "interval", "rules"} and group["name"] and group["rules"]
        for rule in group["rules"]:
            assert ("record" in rule) != ("alert" in rule), rule
            assert set(rule) <= {"record", "alert", "expr", "for", "labels", "annotations"}
            assert isinstance(rule["expr"], str) and rule["expr"]
            for key in ("labels", "annotations"):
                assert all(isinstance(v, str) for v in rule.get(key, {}).values()), rule
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rules.yml"
        path.write_text(yaml.safe_dump({"groups": manifest["spec"]["groups"]}))
        done = subprocess.run(
            [shutil.which("promtool") or "/usr/bin/promtool", "check", "rules", str(path)],
            capture_output=True,
            text=True,
        )
    assert done.returncode == 0 and "SUCCESS" in done.stdout, done.stdout + done.stderr


def validate_manifest(manifest: dict[str, Any]) -> None:
    """Raise when ``manifest`` is not valid for its kind (strict: unknown fields fail)."""
    key = (manifest["apiVersion"], manifest["kind"])
    if key == ("monitoring.coreos.com/v1", "PrometheusRule"):
        validate_prometheus_rule(manifest)
        return
    if key in CRD_SCHEMAS:
        errors = sorted(crd_validator(*key).iter_errors(manifest), key=str)
        if errors:
            raise AssertionError(
                f"{key[1]} {manifest['metadata']['name']}: "
                + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
            )
        return
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
