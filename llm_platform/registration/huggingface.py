"""The ``huggingface`` model source: a Hub repo id, downloaded with ``huggingface_hub``.

``huggingface_hub`` is an optional extra (``pip install 'llm-platform[huggingface]'``); without
it a ``huggingface`` source fails with that command in the error. The source's ``uri`` is a repo
id with an optional revision, ``org/name`` or ``org/name@revision`` (a branch, a tag or a commit
sha; a commit sha saves the revision look-up and pins the bytes).

- The Hub is ``HF_ENDPOINT`` (a mirror or an internal hub) or ``https://huggingface.co``, read
  at each download and passed to the library explicitly (the library reads it once, at import).
  ``HF_TOKEN`` (gated or private repos) is read from the environment by the library itself;
  this module never reads, logs or reports it.
- Offline (``HF_HUB_OFFLINE`` set, or the hub not answering a TCP connect within
  :data:`HF_PROBE_TIMEOUT_S`) fails at once with "not reachable (offline)", never a hang.
- Every request is bounded: where the library sets no timeout, connect, read, write and pool
  time out after :data:`HF_REQUEST_TIMEOUT_S` (it retries a few times with backoff: a stalled
  hub fails in minutes, never hangs).
- Every failure (repo not found, gated, unknown revision, HTTP errors, the connection dropping)
  becomes a :class:`SourceError` naming the repo, the HTTP status and the hub; the library's
  traceback is not chained.
- The whole snapshot is downloaded, unfiltered: the artifact is exactly the repo at that commit,
  and a pickle (``pytorch_model.bin``) comes down too so the security scan refuses it rather
  than a filter hiding it. The library's bookkeeping (``.cache/huggingface/`` under its
  ``local_dir``, refs in its cache) stays in a scratch directory beside ``dest``, so ``dest``
  holds only the repo's files.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from llm_platform.registration.source_errors import SourceError

HF_DEFAULT_ENDPOINT = "https://huggingface.co"
HF_EXTRA_INSTALL = "pip install 'llm-platform[huggingface]'"
HF_PROBE_TIMEOUT_S = 3.0
#: Longest silence (connect or read) tolerated on one Hub request before it fails.
HF_REQUEST_TIMEOUT_S = 30.0
#: Files downloaded in parallel.
HF_MAX_WORKERS = 4
_LIBRARY_CACHE = (".cache", "huggingface")
_timeouts_lock = threading.Lock()
_timeouts_installed = False


def parse_hf_uri(uri: str) -> tuple[str, str | None]:
    """(repo id, revision or ``None`` for the default branch) of ``org/name[@revision]``.

    Raises:
        SourceError: an empty repo id or revision.
    """
    repo_id, sep, revision = uri.partition("@")
    if not repo_id.strip("/") or (sep and not revision):
        raise SourceError(f"huggingface source {uri!r} is not of the form org/name[@revision]")
    return repo_id, revision or None


def hub_endpoint() -> str:
    """The Hub to download from: ``HF_ENDPOINT`` when set, else huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or HF_DEFAULT_ENDPOINT).rstrip("/")


def _hub_reachable(endpoint: str, timeout_s: float) -> bool:
    """TCP-connect to the hub; DNS runs in a thread so a stuck resolver cannot hang us."""
    parsed = urlparse(endpoint)
    host = parsed.hostname or ""
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return bool(result and result[0])


def _bound_timeouts(request: Any) -> None:
    """Request hook: every timeout the library left unset becomes :data:`HF_REQUEST_TIMEOUT_S`.

    The library passes ``timeout=None`` (no limit) explicitly for the repo info and the tree
    listing, which overrides a client default; the hook runs after that, before sending.
    """
    timeout = dict(request.extensions.get("timeout") or {})
    for phase in ("connect", "read", "write", "pool"):
        if timeout.get(phase) is None:
            timeout[phase] = HF_REQUEST_TIMEOUT_S
    request.extensions["timeout"] = timeout


def _install_request_timeouts() -> None:
    """Bound every request of the library's shared HTTP client (once per process)."""
    global _timeouts_installed
    with _timeouts_lock:
        if _timeouts_installed:
            return
        import httpx2
        from huggingface_hub import set_client_factory
        from huggingface_hub.utils._http import default_client_factory

        def bounded_client() -> httpx2.Client:
            client = default_client_factory()  # keeps the library's own request hooks
            client.event_hooks["request"].append(_bound_timeouts)
            return client

        set_client_factory(bounded_client)
        _timeouts_installed = True


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status in ``exc`` or the exceptions it was raised from, if any."""
    seen: BaseException | None = exc
    while seen is not None:
        try:
            status = getattr(getattr(seen, "response", None), "status_code", None)
        except RuntimeError:  # httpx errors raise when they carry no response
            status = None
        if isinstance(status, int):
            return status
        seen = seen.__cause__ or seen.__context__
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    return chain


def describe_failure(uri: str, endpoint: str, exc: BaseException) -> str:
    """One line saying why downloading ``uri`` failed: what, the HTTP status, the hub."""
    import httpx2
    from huggingface_hub import errors

    chain = _chain(exc)
    status = _http_status(exc)

    def caught(kind: type[BaseException]) -> bool:
        return any(isinstance(e, kind) for e in chain)

    if caught(errors.GatedRepoError):
        what = "gated repository: accept its terms on the hub and set HF_TOKEN"
    elif caught(errors.RevisionNotFoundError):
        what = "revision not found"
    elif caught(errors.RepositoryNotFoundError):
        what = "repository not found (or private, and HF_TOKEN does not grant access)"
    elif caught(errors.RemoteEntryNotFoundError):
        what = "a file the hub listed is missing"
    elif caught(httpx2.TimeoutException):
        what = f"no answer within {HF_REQUEST_TIMEOUT_S:g}s"
    elif caught(httpx2.TransportError):
        cause = next(e for e in chain if isinstance(e, httpx2.TransportError))
        what = f"the connection failed ({type(cause).__name__}: {cause})"
    elif status is not None:
        what = "the hub refused the download"
    else:
        first_line = (str(exc).strip().splitlines() or [""])[0]
        what = f"download failed ({type(exc).__name__}: {first_line})"
    http = f"HTTP {status}" if status is not None else "no HTTP status"
    return f"huggingface source {uri}: {what} ({http} from {endpoint})"


def download_hf_snapshot(uri: str, dest: Path) -> None:
    """Download the repo snapshot ``uri`` names into ``dest`` (an existing, empty directory).

    Raises:
        SourceError: ``huggingface_hub`` is missing (the message names the extra), the hub is
            offline, or the download failed (repo, HTTP status and hub named).
    """
    repo_id, revision = parse_hf_uri(uri)
    try:
        import httpx2
        from huggingface_hub import snapshot_download
    except ImportError:
        raise SourceError(
            f"huggingface source {uri} needs the huggingface_hub package: {HF_EXTRA_INSTALL}"
        ) from None
    endpoint = hub_endpoint()
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    if offline or not _hub_reachable(endpoint, HF_PROBE_TIMEOUT_S):
        why = "HF_HUB_OFFLINE is set" if offline else f"cannot connect to {endpoint}"
        raise SourceError(f"huggingface source {uri} is not reachable (offline): {why}")
    _install_request_timeouts()
    scratch = Path(tempfile.mkdtemp(prefix=".hf-download-", dir=Path(dest).parent))
    try:
        files = scratch / "files"
        try:
            snapshot_download(
                repo_id=repo_id,
                revision=revision,
                local_dir=files,
                cache_dir=scratch / "cache",
                endpoint=endpoint,
                etag_timeout=HF_REQUEST_TIMEOUT_S,
                max_workers=HF_MAX_WORKERS,
            )
        except (OSError, ValueError, httpx2.HTTPError) as exc:
            raise SourceError(describe_failure(uri, endpoint, exc)) from None
        for path in sorted(files.rglob("*")):
            rel = path.relative_to(files)
            if rel.parts[:2] != _LIBRARY_CACHE and path.is_file() and not path.is_symlink():
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                path.replace(dest / rel)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
