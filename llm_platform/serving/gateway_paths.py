"""The paths the gateway serves for a model, normalised; every other path is a 404.

Per model (``/<model>`` or ``/<model>@<revision>``; a sidecar has no prefix): the OpenAI routes
``/v1/completions`` and ``/v1/chat/completions`` (POST), ``/v1/models`` (GET), and ``/health``
(GET; answered by the gateway from its routes, whatever the engine). A path is percent-decoded
once; one holding ``.`` or ``..`` segments, empty segments (``//``), a still-encoded ``%`` or
control characters matches nothing, and only the canonical path is ever forwarded, so nothing
else of an engine (its own ``/metrics``, debug routes) is reachable through the gateway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from llm_platform.serving import openai_paths
from llm_platform.serving.request_contract import KINDS, Kind

MODELS_PATH = openai_paths.MODELS_PATH.encode()
HEALTH_PATH = openai_paths.HEALTH_PATH.encode()
#: Each endpoint below a model and the methods it answers.
ENDPOINTS: dict[bytes, tuple[str, ...]] = {
    **{path: ("POST",) for path in KINDS},
    MODELS_PATH: ("GET", "HEAD"),
    HEALTH_PATH: ("GET", "HEAD"),
}
_MODEL = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._-]{0,127}(?:@[A-Za-z0-9][A-Za-z0-9._-]{0,127})?")
_CLEAN = re.compile(rb"(?:/[\x21-\x7e]+)+")


@dataclass(frozen=True)
class ModelPath:
    """A request path the gateway serves: the model, a pinned revision ("" if none), the
    canonical endpoint path and, for inference endpoints, the request kind."""

    model: str
    revision: str
    endpoint: bytes
    kind: Kind | None


def parse_model_path(raw: bytes, mounted: str | None = None) -> ModelPath | None:
    """The route ``raw`` (as received, percent-encoded) names, or None (a 404).

    Args:
        raw: the request's path, without the query.
        mounted: a sidecar's one model (its paths have no ``/<model>`` prefix).
    """
    path = unquote_to_bytes(raw)
    if b"%" in path or not _CLEAN.fullmatch(path):
        return None
    segments = path[1:].split(b"/")
    if any(s in (b".", b"..") for s in segments):
        return None
    if mounted is not None:
        model, revision, endpoint = mounted, "", path
    else:
        head, _, rest = path[1:].partition(b"/")
        if not _MODEL.fullmatch(head):
            return None
        name, _, pinned = head.decode().partition("@")
        model, revision, endpoint = name, pinned, b"/" + rest
    if endpoint not in ENDPOINTS:
        return None
    return ModelPath(model, revision, endpoint, KINDS.get(endpoint))
