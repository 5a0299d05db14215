"""Resolve a model's ``source`` (local | s3 | huggingface) into files in a local directory.

- ``local``: a path relative to the models-repo checkout (or absolute); a directory or one file.
  Files are hard-linked into the destination when it is on the same filesystem (O(1), and the
  stat-keyed digest cache recognises them), else copied.
- ``s3``: ``s3://bucket/key-prefix`` through boto3 (endpoint/credentials from the standard
  ``AWS_*`` variables, ``AWS_ENDPOINT_URL`` included). A prefix downloads every object under it;
  an exact key downloads that one object.
- ``huggingface``: a repo id, downloaded with ``huggingface_hub.snapshot_download`` when the
  package is installed and the hub answers a TCP connect within a few seconds; otherwise a clear
  "not reachable (offline)" error, quickly, never a hang.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from llm_platform.errors import PlatformError

SOURCE_TYPES = ("local", "s3", "huggingface")
HF_PROBE_TIMEOUT_S = 3.0


class SourceError(PlatformError):
    """A model source cannot be resolved (missing path, empty prefix, unreachable hub)."""


def local_source_path(uri: str, models_repo_dir: Path | None) -> Path:
    """The absolute path a ``local`` source names.

    Args:
        uri: absolute path, or path relative to the models-repo checkout.
        models_repo_dir: the checkout; required for relative paths.

    Raises:
        SourceError: relative path without a checkout, or the path does not exist.
    """
    path = Path(uri).expanduser()
    if not path.is_absolute():
        if models_repo_dir is None:
            raise SourceError(f"local source {uri!r} is relative but no models repo was given")
        path = Path(models_repo_dir) / path
    if not path.exists():
        raise SourceError(f"local source {uri!r} does not exist (looked at {path})")
    return path.absolute()


def _link_or_copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def _materialize_local(src: Path, dest: Path) -> None:
    if src.is_file():
        _link_or_copy(src, dest / src.name)
        return
    resolved = src.resolve()
    for p in sorted(src.rglob("*")):
        if p.is_symlink() and not p.resolve().is_relative_to(resolved):
            raise SourceError(f"{p}: symlink points outside the local source directory")
        if p.is_file():
            _link_or_copy(p.resolve(), dest / p.relative_to(src))


def _materialize_s3(uri: str, dest: Path, client: Any | None) -> None:
    parsed = urlparse(uri)
    bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
    if parsed.scheme != "s3" or not bucket:
        raise SourceError(f"s3 source {uri!r} is not of the form s3://bucket/key-prefix")
    if client is None:
        import boto3

        client = boto3.client("s3")
    list_prefix = prefix if (not prefix or prefix.endswith("/")) else prefix + "/"
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=list_prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []) if not obj["Key"].endswith("/"))
    if keys:
        for key in keys:
            rel = key[len(list_prefix) :]
            if any(part in ("", ".", "..") for part in rel.split("/")):
                raise SourceError(f"s3://{bucket}/{key}: unsafe object key for a local path")
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, key, str(target))
        return
    if prefix and not prefix.endswith("/"):
        try:
            client.head_object(Bucket=bucket, Key=prefix)
        except Exception as exc:
            raise SourceError(f"s3 source {uri!r}: no object or prefix found ({exc})") from exc
        dest.mkdir(parents=True, exist_ok=True)
        client.download_file(bucket, prefix, str(dest / prefix.rsplit("/", 1)[-1]))
        return
    raise SourceError(f"s3 source {uri!r}: no objects under this prefix")


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


def _materialize_huggingface(repo_id: str, dest: Path) -> None:
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    if offline or not _hub_reachable(endpoint, HF_PROBE_TIMEOUT_S):
        why = "HF_HUB_OFFLINE is set" if offline else f"cannot connect to {endpoint}"
        raise SourceError(f"huggingface source {repo_id} is not reachable (offline): {why}")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise SourceError(
            f"huggingface source {repo_id} is not reachable (offline): "
            "the huggingface_hub package is not installed"
        ) from None
    snapshot_download(repo_id=repo_id, local_dir=str(dest), etag_timeout=HF_PROBE_TIMEOUT_S)


def materialize_source(
    source_type: str,
    uri: str,
    dest: Path,
    *,
    models_repo_dir: Path | None = None,
    s3_client: Any | None = None,
) -> Path:
    """Put the source's files into ``dest`` (a new or empty directory).

    Args:
        source_type: ``local``, ``s3`` or ``huggingface``.
        uri: the source URI (path, ``s3://bucket/prefix`` or repo id).
        dest: destination directory.
        models_repo_dir: checkout that relative ``local`` paths are resolved against.
        s3_client: boto3 client for ``s3`` sources (default: ``boto3.client("s3")``).

    Returns:
        ``dest``.

    Raises:
        SourceError: unknown type, missing/empty source, unreachable hub.
    """
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise SourceError(f"{dest}: destination for the source files is not empty")
    dest.mkdir(parents=True, exist_ok=True)
    if source_type == "local":
        _materialize_local(local_source_path(uri, models_repo_dir), dest)
    elif source_type == "s3":
        _materialize_s3(uri, dest, s3_client)
    elif source_type == "huggingface":
        _materialize_huggingface(uri, dest)
    else:
        raise SourceError(f"unknown source type {source_type!r}: expected one of {SOURCE_TYPES}")
    if not any(p.is_file() for p in dest.rglob("*")):
        raise SourceError(f"{source_type} source {uri!r} contains no files")
    return dest
