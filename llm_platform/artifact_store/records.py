"""Registry records (one per registered model version and content digest) and the key layout.

Layout inside an :class:`~llm_platform.artifact_store.store.ObjectStore`::

    <name>/<version>/<digest>/files/<relative path>   the artifact's files, content-addressed
    <name>/<version>/<digest>/<attachment>            e.g. scan-report.json, scan-report.sarif
    <name>/<version>/<digest>/record.json             RegistryRecord, written after every file
    <name>/<version>/latest.json                      {"digest": ...}: the last registration
    <name>/<version>/rejected/<registration id>/scan-report.json
                                                      the scan report of an artifact refused
                                                      as unsafe (no files, no record)

A record exists only when every file it names was stored and hash-verified, so "record present"
means "artifact complete". Records are never overwritten with different content; two versions
or two models live under different prefixes and cannot clobber each other. ``latest.json`` is a
mutable pointer and the only object that is ever replaced.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pydantic import BaseModel, Field, field_validator

from llm_platform.artifact_store.store import StoreError
from llm_platform.common.digest import SHA256_HEX_PATTERN, FileEntry
from llm_platform.common.dns_label import DNS_LABEL_PATTERN

_NAME = re.compile(DNS_LABEL_PATTERN)
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+\-]*$")
_DIGEST = re.compile(SHA256_HEX_PATTERN)
_ATTACHMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

RECORD_FILE = "record.json"
LATEST_FILE = "latest.json"
FILES_DIR = "files"


def _bare(pattern: re.Pattern[str]) -> str:
    return pattern.pattern.removeprefix("^").removesuffix("$")


#: ``<name>/<version>/<digest>/files/`` (trailing ``/`` optional) as a regular expression in
#: the syntax Python and RE2/Go share, so a cluster component can match artifact URIs too.
FILES_PREFIX_PATTERN = (
    f"(?P<name>{_bare(_NAME)})/(?P<version>{_bare(_VERSION)})/(?P<digest>{_bare(_DIGEST)})"
    f"/{FILES_DIR}/?"
)


def utc_now_iso() -> str:
    """The current time as an ISO-8601 UTC string with a ``Z`` suffix."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _check(kind: str, value: str, pattern: re.Pattern[str]) -> str:
    if not pattern.match(value):
        raise StoreError(f"invalid model {kind} {value!r} for a registry key")
    return value


def model_prefix(name: str) -> str:
    """``<name>/`` after validating the name (it becomes a key segment)."""
    return f"{_check('name', name, _NAME)}/"


def version_prefix(name: str, version: str) -> str:
    """``<name>/<version>/`` after validating both (they become key segments)."""
    return f"{model_prefix(name)}{_check('version', version, _VERSION)}/"


def artifact_prefix(name: str, version: str, digest: str) -> str:
    """``<name>/<version>/<digest>/``."""
    return f"{version_prefix(name, version)}{_check('digest', digest, _DIGEST)}/"


def files_prefix(name: str, version: str, digest: str) -> str:
    """``<name>/<version>/<digest>/files/``: where the artifact's files live."""
    return f"{artifact_prefix(name, version, digest)}{FILES_DIR}/"


def record_key(name: str, version: str, digest: str) -> str:
    """``<name>/<version>/<digest>/record.json``."""
    return f"{artifact_prefix(name, version, digest)}{RECORD_FILE}"


def attachment_key(name: str, version: str, digest: str, filename: str) -> str:
    """``<name>/<version>/<digest>/<filename>``: a small file stored with the record."""
    if not _ATTACHMENT.match(filename) or filename == RECORD_FILE:
        raise StoreError(f"invalid attachment name {filename!r}")
    return f"{artifact_prefix(name, version, digest)}{filename}"


def rejection_key(name: str, version: str, registration_id: str) -> str:
    """``<name>/<version>/rejected/<registration id>/scan-report.json``."""
    if not _ATTACHMENT.match(registration_id):
        raise StoreError(f"invalid registration id {registration_id!r} for a registry key")
    return f"{version_prefix(name, version)}rejected/{registration_id}/scan-report.json"


def latest_key(name: str, version: str) -> str:
    """``<name>/<version>/latest.json``."""
    return f"{version_prefix(name, version)}{LATEST_FILE}"


class RegistryRecord(BaseModel):
    """A registered model version: what was stored, where, from which commit and KFP run."""

    name: str
    version: str
    digest: str = Field(description="manifest sha256 over the artifact's files")
    files: list[FileEntry]
    total_size: int
    source_uri: str
    commit_sha: str
    config_hash: str
    kfp_run_id: str
    kfp_run_url: str | None = None
    registered_at: str = Field(default_factory=utc_now_iso, description="UTC, ISO-8601")
    scan_summary: dict[str, int] = Field(default_factory=dict)
    scan_safe: bool
    artifact_uri: str = Field(description="URI of the files/ prefix in the store")

    @field_validator("files")
    @classmethod
    def _relative_paths(cls, files: list[FileEntry]) -> list[FileEntry]:
        for f in files:
            parts = f.path.split("/")
            if f.path.startswith("/") or any(p in ("", ".", "..") for p in parts):
                raise ValueError(f"file path {f.path!r} is not a safe relative path")
        return files

    def same_artifact(self, other: RegistryRecord) -> bool:
        """Whether both records describe the same stored bytes under the same name/version."""
        key = lambda r: sorted((f.path, f.size, f.sha256) for f in r.files)  # noqa: E731
        return (self.name, self.version, self.digest) == (
            other.name,
            other.version,
            other.digest,
        ) and key(self) == key(other)
