"""Resolve a model's ``source`` (local | s3 | huggingface) into files in a local directory.

- ``local``: a path relative to the models-repo checkout that stays inside it, or an absolute
  path under the operator's allow-list (:mod:`llm_platform.config.source_paths`); a directory
  or one file. Files are hard-linked into the destination when it is on the same filesystem
  (O(1), and the stat-keyed digest cache recognises them), else reflinked or copied sparsely.
- ``s3``: ``s3://bucket/key-prefix`` through boto3 (endpoint/credentials from the standard
  ``AWS_*`` variables, ``AWS_ENDPOINT_URL`` included). A prefix downloads every object under it;
  an exact key downloads that one object.
- ``huggingface``: a repo id ``org/name[@revision]`` downloaded with ``huggingface_hub`` (the
  ``huggingface`` extra) from ``HF_ENDPOINT`` or huggingface.co; offline fails at once, never a
  hang. See :mod:`llm_platform.registration.huggingface`.
- Every source is refused once it exceeds the artifact size limit (``max_bytes``): local and
  s3 sources before any byte is copied, huggingface after the download.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from llm_platform.artifact_store.artifact_io import check_artifact_size, link_or_copy
from llm_platform.config.source_paths import local_source_problem
from llm_platform.registration.source_errors import SourceError, SourceNotAllowedError

SOURCE_TYPES = ("local", "s3", "huggingface")


def local_source_path(uri: str, models_repo_dir: Path | None, allowed: Sequence[Path] = ()) -> Path:
    """The real path a ``local`` source names, after checking it may be read.

    Args:
        uri: a path relative to the models-repo checkout, or an absolute path under
            ``allowed``.
        models_repo_dir: the checkout; required for relative paths.
        allowed: absolute host directories (or files) an absolute ``uri`` may be under.

    Raises:
        SourceNotAllowedError: the path (or a symlink in it) leaves the repo / allow-list.
        SourceError: relative path without a checkout, or the path does not exist.
    """
    path = Path(uri)
    if not path.is_absolute():
        if models_repo_dir is None:
            raise SourceError(f"local source {uri!r} is relative but no models repo was given")
        path = Path(models_repo_dir) / path
    problem = local_source_problem(uri, models_repo_dir, allowed)
    if problem is not None:
        raise SourceNotAllowedError(problem)
    if not path.exists():
        raise SourceError(f"local source {uri!r} does not exist (looked at {path})")
    return path.resolve()


def _local_files(src: Path) -> list[tuple[Path, str]]:
    """(real file, relative destination) for every file of the source, links checked."""
    if src.is_file():
        return [(src, src.name)]
    files = []
    for p in sorted(src.rglob("*")):
        if p.is_symlink() and not p.resolve().is_relative_to(src):
            raise SourceNotAllowedError(f"{p}: symlink points outside the local source directory")
        if p.is_file():
            files.append((p.resolve(), p.relative_to(src).as_posix()))
    return files


def _materialize_local(src: Path, dest: Path, max_bytes: int | None) -> None:
    files = _local_files(src)
    check_artifact_size(sum(f.stat().st_size for f, _ in files), max_bytes, f"local source {src}")
    for real, rel in files:
        link_or_copy(real, dest / rel)


def _materialize_s3(uri: str, dest: Path, client: Any | None, max_bytes: int | None) -> None:
    parsed = urlparse(uri)
    bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
    if parsed.scheme != "s3" or not bucket:
        raise SourceError(f"s3 source {uri!r} is not of the form s3://bucket/key-prefix")
    if client is None:
        import boto3

        client = boto3.client("s3")
    list_prefix = prefix if (not prefix or prefix.endswith("/")) else prefix + "/"
    keys: list[str] = []
    total = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=list_prefix):
        for obj in page.get("Contents", []):
            if not obj["Key"].endswith("/"):
                keys.append(obj["Key"])
                total += int(obj.get("Size", 0))
    check_artifact_size(total, max_bytes, f"s3 source {uri}")
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
            head = client.head_object(Bucket=bucket, Key=prefix)
        except Exception as exc:
            raise SourceError(f"s3 source {uri!r}: no object or prefix found ({exc})") from exc
        check_artifact_size(int(head.get("ContentLength", 0)), max_bytes, f"s3 source {uri}")
        dest.mkdir(parents=True, exist_ok=True)
        client.download_file(bucket, prefix, str(dest / prefix.rsplit("/", 1)[-1]))
        return
    raise SourceError(f"s3 source {uri!r}: no objects under this prefix")


def _materialize_huggingface(uri: str, dest: Path) -> None:
    # Imported here: that module imports SourceError from this one.
    from llm_platform.registration.huggingface import download_hf_snapshot

    download_hf_snapshot(uri, dest)


def materialize_source(
    source_type: str,
    uri: str,
    dest: Path,
    *,
    models_repo_dir: Path | None = None,
    allowed_roots: Sequence[Path] = (),
    s3_client: Any | None = None,
    max_bytes: int | None = None,
) -> Path:
    """Put the source's files into ``dest`` (a new or empty directory).

    Args:
        source_type: ``local``, ``s3`` or ``huggingface``.
        uri: the source URI (path, ``s3://bucket/prefix`` or ``org/name[@revision]``).
        dest: destination directory.
        models_repo_dir: checkout that relative ``local`` paths are resolved against.
        allowed_roots: where an absolute ``local`` path may be (the operator's allow-list).
        s3_client: boto3 client for ``s3`` sources (default: ``boto3.client("s3")``).
        max_bytes: refuse a source larger than this many bytes (``None``: no limit).

    Returns:
        ``dest``.

    Raises:
        SourceError: unknown type, missing/empty source, unreachable hub; its subclass
            SourceNotAllowedError for a local path outside the repo / allow-list.
        ArtifactTooLargeError: the source is larger than ``max_bytes``.
    """
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise SourceError(f"{dest}: destination for the source files is not empty")
    dest.mkdir(parents=True, exist_ok=True)
    if source_type == "local":
        src = local_source_path(uri, models_repo_dir, allowed_roots)
        _materialize_local(src, dest, max_bytes)
    elif source_type == "s3":
        _materialize_s3(uri, dest, s3_client, max_bytes)
    elif source_type == "huggingface":
        _materialize_huggingface(uri, dest)
    else:
        raise SourceError(f"unknown source type {source_type!r}: expected one of {SOURCE_TYPES}")
    sizes = [p.stat().st_size for p in dest.rglob("*") if p.is_file()]
    if not sizes:
        raise SourceError(f"{source_type} source {uri!r} contains no files")
    check_artifact_size(sum(sizes), max_bytes, f"{source_type} source {uri}")
    return dest
