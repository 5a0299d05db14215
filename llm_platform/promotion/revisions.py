"""Revision names and specs: the one rule every deployment (staging, production, rollback) uses.

A revision name is a Kubernetes DNS-1123 label (at most 63 characters of lowercase letters,
digits and ``-``, starting and ending with a letter or digit) because it becomes part of
process, metric-label and, on a cluster, object names:
``v<version>-<digest[:8]>[-<variant>][-<n>]``. The version is lowercased and every run of other
characters (``.``, ``+`` of semver build metadata, ``_``) becomes one ``-``; a long version is
truncated so that the digest part, which identifies the bytes, always survives.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from llm_platform.common.dns_label import DNS_LABEL_MAX, check_dns_label
from llm_platform.common.strategy_names import Color
from llm_platform.serving.engines.selection import ServingChoice
from llm_platform.targets.base import RevisionSpec

_DIGEST_PREFIX = re.compile(r"^[0-9a-f]{8}")
_VARIANT = re.compile(r"^[a-z0-9]{1,16}$")


def revision_name(
    version: str, digest: str, *, variant: str = "", taken: Collection[str] = ()
) -> str:
    """The DNS-1123 revision name for ``version`` and ``digest``, not one of ``taken``.

    Args:
        version: the model version (any string; semver with ``+build`` metadata is usual).
        digest: the artifact digest (hex, at least 8 characters).
        variant: distinguishes deployments of one digest that must not share a process or a
            metrics series (e.g. injected faults); lowercase letters and digits, <= 16.
        taken: names already in use; ``-2``, ``-3``, ... is appended until the name is free.

    Raises:
        ValueError: ``digest`` does not start with 8 lowercase hex digits, or a bad ``variant``.
    """
    if not _DIGEST_PREFIX.match(digest):
        raise ValueError(f"digest {digest[:16]!r}: expected lowercase hex (>= 8 characters)")
    if variant and not _VARIANT.match(variant):
        raise ValueError(f"variant {variant!r}: expected 1-16 lowercase letters or digits")
    ver = re.sub(r"[^a-z0-9]+", "-", version.lower()).strip("-") or "0"
    tail = f"-{digest[:8]}" + (f"-{variant}" if variant else "")
    name, n = _fit(f"v{ver}", tail), 2
    while name in taken:
        name, n = _fit(f"v{ver}", f"{tail}-{n}"), n + 1
    return check_dns_label(name)


def _fit(head: str, tail: str) -> str:
    return head[: DNS_LABEL_MAX - len(tail)].rstrip("-") + tail


def revision_spec(
    *,
    revision: str,
    version: str,
    digest: str,
    artifact_uri: str,
    serving: ServingChoice,
    color: Color,
    weight: int,
    replicas: int = 1,
    latency_ms: float = 0.0,
    error_rate: float = 0.0,
    extensions: Sequence[str] = (),
) -> RevisionSpec:
    """The spec of one revision to run: the artifact, its serving choice, its traffic share.

    Every deployment builds its revisions here, so the engine and its launch settings
    (``context_size``, ``max_batch_size``) travel with the artifact everywhere.

    Args:
        revision: the revision name (:func:`revision_name`).
        version: the model version.
        digest: the artifact digest.
        artifact_uri: where the artifact's files are stored.
        serving: the engine and the launch settings chosen for the artifact.
        color: the revision's role (blue / green, stable / canary).
        weight: its traffic share in percent.
        replicas: server processes behind the gateway.
        latency_ms: injected latency (demos and drills).
        error_rate: injected error rate (demos and drills).
        extensions: engine extensions the environment enables.
    """
    return RevisionSpec(
        revision=revision,
        version=version,
        digest=digest,
        artifact_uri=artifact_uri,
        replicas=replicas,
        color=color,
        weight=weight,
        latency_ms=latency_ms,
        error_rate=error_rate,
        engine=serving.engine,
        context_size=serving.context_size,
        max_batch_size=serving.max_batch_size,
        extensions=list(extensions),
    )
