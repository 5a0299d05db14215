"""Object names, label keys and lineage labels/annotations of rendered manifests.

Labels carry model, environment, version, revision, color, commit and a digest prefix, so
``kubectl get pods -l llm-platform.io/model=NAME`` shows lineage; the full digest and the
artifact URI are annotations (label values are limited to 63 characters).
"""

from __future__ import annotations

import hashlib
import json
import re

from llm_platform.common.dns_label import DNS_LABEL_MAX
from llm_platform.targets.base import DeploymentSpec, RevisionSpec

PREFIX = "llm-platform.io"
MODEL = f"{PREFIX}/model"
ENVIRONMENT = f"{PREFIX}/environment"
VERSION = f"{PREFIX}/version"
REVISION = f"{PREFIX}/revision"
COLOR = f"{PREFIX}/color"
COMMIT = f"{PREFIX}/commit"
DIGEST_PREFIX = f"{PREFIX}/digest-prefix"
DIGEST = f"{PREFIX}/digest"
ARTIFACT_URI = f"{PREFIX}/artifact-uri"
ENGINE = f"{PREFIX}/engine"
#: The DeploymentSpec as last applied (JSON), so ``desired_spec`` reads it back from the cluster.
DESIRED_SPEC = f"{PREFIX}/desired-spec"
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "llm-platform"
DIGEST_LABEL_CHARS = 12

_LABEL_VALUE = re.compile(r"[^A-Za-z0-9._-]+")


def label_value(value: str) -> str:
    """``value`` as a label value: other characters become ``-``, at most 63, alphanumeric ends."""
    cleaned = _LABEL_VALUE.sub("-", value)[:DNS_LABEL_MAX]
    return cleaned.strip("-._")


def object_name(*parts: str) -> str:
    """A DNS-1035 label from ``parts`` joined by ``-`` (starts with a letter, <= 63 chars).

    Services and InferenceServices need DNS-1035 names; a name that would be too long keeps
    its head and gets a hash of the whole, so distinct inputs stay distinct.
    """
    name = "-".join(parts)
    if not name[:1].isalpha():
        name = f"m-{name}"
    if len(name) <= DNS_LABEL_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: DNS_LABEL_MAX - 9].rstrip('-')}-{digest}"


def model_labels(env: str, model: str) -> dict[str, str]:
    """Labels every object of one deployment carries (its selector for listing)."""
    return {MANAGED_BY: MANAGER, ENVIRONMENT: env, MODEL: model}


def revision_labels(env: str, model: str, rev: RevisionSpec, commit: str | None) -> dict[str, str]:
    """Lineage labels of one revision's objects and pods."""
    labels = {
        **model_labels(env, model),
        VERSION: label_value(rev.version),
        REVISION: rev.revision,
        COLOR: rev.color,
        DIGEST_PREFIX: rev.digest[:DIGEST_LABEL_CHARS],
        ENGINE: rev.engine,
    }
    if commit:
        labels[COMMIT] = label_value(commit)
    return labels


def revision_annotations(rev: RevisionSpec, commit: str | None) -> dict[str, str]:
    """Lineage annotations: the full digest, the artifact URI, the commit."""
    out = {DIGEST: rev.digest, ARTIFACT_URI: rev.artifact_uri}
    if commit:
        out[COMMIT] = commit
    return out


def desired_spec_json(spec: DeploymentSpec) -> str:
    """The spec as a compact JSON annotation (read back by the runtime's ``desired_spec``)."""
    return json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
