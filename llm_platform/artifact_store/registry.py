"""The model registry: register, look up, verify and fetch artifacts in an object store.

Registration order (crash safety): hash the source -> if a matching record already exists,
stop (nothing is uploaded) -> store every file, each hash-verified against the manifest ->
write ``record.json`` -> move the ``latest.json`` pointer. A crash anywhere before the record
leaves files but no record; the next registration re-stores them and completes. See
:mod:`llm_platform.artifact_store.records` for the key layout.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ValidationError

from llm_platform.artifact_store.digest_cache import DigestCache
from llm_platform.artifact_store.records import (
    RECORD_FILE,
    RegistryRecord,
    attachment_key,
    files_prefix,
    latest_key,
    model_prefix,
    record_key,
    rejection_key,
    utc_now_iso,
)
from llm_platform.artifact_store.store import ObjectNotFoundError, ObjectStore
from llm_platform.common.digest import (
    SHA256_HEX_LENGTH,
    ArtifactManifest,
    bare_digest,
    digest_directory,
    manifest_digest,
)
from llm_platform.common.errors import PlatformError

#: The shortest digest prefix that may stand for a registered digest.
MIN_DIGEST_PREFIX = 8


class RegistryError(PlatformError):
    """A registry operation was refused or found inconsistent data."""


class RegisterOutcome(BaseModel):
    """What :meth:`ModelRegistry.register` did."""

    record: RegistryRecord
    reused: bool
    uploaded_files: int
    uploaded_bytes: int


class ModelRegistry:
    """Registered model versions on top of an :class:`ObjectStore`.

    Args:
        store: where artifacts and records live.
    """

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    # -- reading -------------------------------------------------------------------------------

    def _load(self, key: str) -> RegistryRecord | None:
        raw = self.store.get_bytes(key)
        if raw is None:
            return None
        try:
            return RegistryRecord.model_validate_json(raw)
        except ValidationError as exc:
            where = self.store.key_uri(key)
            raise RegistryError(f"{where}: invalid registry record: {exc}") from exc

    def get_record(
        self, name: str, version: str, digest: str | None = None
    ) -> RegistryRecord | None:
        """The record of ``name``/``version`` (at ``digest``, or the latest registered one).

        Returns:
            The record, or ``None`` when nothing is registered there.
        """
        if digest is not None:
            return self._load(record_key(name, version, digest))
        pointer = self.store.get_bytes(latest_key(name, version))
        if pointer is not None:
            try:
                latest = json.loads(pointer)["digest"]
            except (ValueError, KeyError, TypeError) as exc:
                raise RegistryError(
                    f"{self.store.key_uri(latest_key(name, version))}: invalid pointer: {exc}"
                ) from exc
            record = self._load(record_key(name, version, str(latest)))
            if record is not None:
                return record
        # Crash between record and pointer: fall back to the newest complete record.
        records = [r for r in self.list_records(name) if r.version == version]
        return records[-1] if records else None

    def list_records(self, name: str) -> list[RegistryRecord]:
        """Every record of model ``name`` (all versions and digests), oldest first."""
        records = []
        for key in self.store.list_keys(model_prefix(name)):
            parts = key.split("/")
            if len(parts) == 4 and parts[3] == RECORD_FILE:
                record = self._load(key)
                if record is not None:
                    records.append(record)
        return sorted(records, key=lambda r: r.registered_at)

    def resolve_digest(self, name: str, version: str, prefix: str) -> str:
        """The full digest of ``name``/``version`` that starts with ``prefix``.

        Tables print digests shortened to 12 hex characters; this turns such a prefix back into
        the one registered digest it names (a full digest is returned as given).

        Raises:
            RegistryError: the prefix is shorter than :data:`MIN_DIGEST_PREFIX` or not hex, no
                registered digest of that version starts with it, or several do.
        """
        digest = bare_digest(prefix)
        if len(digest) == SHA256_HEX_LENGTH:
            return digest
        if len(digest) < MIN_DIGEST_PREFIX or not all(c in "0123456789abcdef" for c in digest):
            raise RegistryError(
                f"digest {prefix!r}: expected the sha256 (64 hex) or a prefix of at least "
                f"{MIN_DIGEST_PREFIX} hex characters"
            )
        matches = sorted(
            {
                r.digest
                for r in self.list_records(name)
                if r.version == version and r.digest.startswith(digest)
            }
        )
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise RegistryError(
                f"{name} {version}: no registered artifact's digest starts with {digest!r}"
            )
        shown = ", ".join(m[: len(digest) + 4] for m in matches)
        raise RegistryError(f"{name} {version}: digest prefix {digest!r} is ambiguous ({shown})")

    # -- integrity -----------------------------------------------------------------------------

    def verify_problems(self, record: RegistryRecord) -> list[str]:
        """Re-hash every stored file of ``record`` (streaming) and list what does not match.

        Returns:
            One line per problem (missing file, size/sha256 mismatch, digest mismatch); empty
            when the stored artifact is intact. Store access errors propagate.
        """
        problems = []
        if manifest_digest(record.files) != record.digest:
            problems.append(f"record digest {record.digest} does not match its file list")
        base = files_prefix(record.name, record.version, record.digest)
        for entry in record.files:
            key = base + entry.path
            try:
                sha, size = self.store.hash_object(key)
            except ObjectNotFoundError:
                problems.append(f"{self.store.key_uri(key)}: missing")
                continue
            if (sha, size) != (entry.sha256, entry.size):
                problems.append(
                    f"{self.store.key_uri(key)}: sha256 {sha} size {size}, "
                    f"record says {entry.sha256} size {entry.size}"
                )
        return problems

    def verify(self, record: RegistryRecord) -> bool:
        """Whether the stored artifact still hashes to the record's digest."""
        return not self.verify_problems(record)

    def get_attachment(self, record: RegistryRecord, filename: str) -> bytes | None:
        """A file stored next to the record at registration (e.g. ``scan-report.json``)."""
        return self.store.get_bytes(
            attachment_key(record.name, record.version, record.digest, filename)
        )

    def record_rejection(
        self, name: str, version: str, registration_id: str, scan_report: bytes
    ) -> None:
        """Keep the scan report of an artifact refused as unsafe (nothing else is stored)."""
        self.store.put_bytes(rejection_key(name, version, registration_id), scan_report)

    def get_rejection(self, name: str, version: str, registration_id: str) -> bytes | None:
        """The scan report :meth:`record_rejection` kept for ``registration_id``, if any."""
        return self.store.get_bytes(rejection_key(name, version, registration_id))

    def fetch(self, record: RegistryRecord, dest_dir: Path) -> Path:
        """Download the artifact's files into ``dest_dir``, verifying every hash.

        Returns:
            ``dest_dir``, holding the files at their relative paths.

        Raises:
            RegistryError: the record's file list does not match its digest.
            StoreError: a stored file does not match the record.
        """
        if manifest_digest(record.files) != record.digest:
            raise RegistryError(f"record {record.name}/{record.version}: digest/file list mismatch")
        dest_dir = Path(dest_dir)
        base = files_prefix(record.name, record.version, record.digest)
        for entry in record.files:
            self.store.download(base + entry.path, dest_dir / entry.path, expected=entry)
        return dest_dir

    # -- writing -------------------------------------------------------------------------------

    def register(
        self,
        source: Path,
        *,
        name: str,
        version: str,
        source_uri: str,
        commit_sha: str,
        config_hash: str,
        kfp_run_id: str,
        kfp_run_url: str | None,
        scan_summary: dict[str, int],
        scan_safe: bool,
        manifest: ArtifactManifest | None = None,
        cache: DigestCache | None = None,
        attachments: dict[str, bytes] | None = None,
    ) -> RegisterOutcome:
        """Store the artifact at ``source`` content-addressed and write its record last.

        Args:
            source: the artifact directory (or single file) on local disk.
            name: model name.
            version: model version.
            source_uri: where the artifact came from (lineage).
            commit_sha: models-repo commit of the config.
            config_hash: hash of the validated model config.
            kfp_run_id: the registration pipeline run.
            kfp_run_url: its UI URL, when there is one.
            scan_summary: counts from the security scan.
            scan_safe: the scan verdict; ``False`` is refused.
            manifest: the source's manifest when already computed (e.g. by the pipeline).
            cache: stat-keyed hash cache used when ``manifest`` is not given.
            attachments: small files stored next to the record before it (e.g. the scan
                report), keyed by file name; read back with :meth:`get_attachment`.

        Returns:
            The record and whether an identical, complete registration was reused.

        Raises:
            RegistryError: the scan said unsafe.
            StoreError: a file changed while it was being stored.
        """
        if not scan_safe:
            raise RegistryError(f"{name} {version}: refusing to register an unsafe artifact")
        if manifest is None:
            manifest = cache.digest_directory(source) if cache else digest_directory(source)
            if cache is not None:
                cache.save()
        files_base = files_prefix(name, version, manifest.digest)
        existing = self._load(record_key(name, version, manifest.digest))
        candidate = RegistryRecord(
            name=name,
            version=version,
            digest=manifest.digest,
            files=manifest.files,
            total_size=manifest.total_size,
            source_uri=source_uri,
            commit_sha=commit_sha,
            config_hash=config_hash,
            kfp_run_id=kfp_run_id,
            kfp_run_url=kfp_run_url,
            registered_at=utc_now_iso(),
            scan_summary=scan_summary,
            scan_safe=scan_safe,
            artifact_uri=self.store.key_uri(files_base),
        )
        if existing is not None and existing.same_artifact(candidate):
            self._point_latest(name, version, manifest.digest)
            return RegisterOutcome(record=existing, reused=True, uploaded_files=0, uploaded_bytes=0)
        root = Path(source)
        for entry in manifest.files:
            src = root if root.is_file() else root / entry.path
            self.store.put_file(files_base + entry.path, src, expected=entry)
        for att_name, data in (attachments or {}).items():
            self.store.put_bytes(attachment_key(name, version, manifest.digest, att_name), data)
        self.store.put_bytes(
            record_key(name, version, manifest.digest),
            candidate.model_dump_json(indent=2).encode(),
        )
        self._point_latest(name, version, manifest.digest)
        return RegisterOutcome(
            record=candidate,
            reused=False,
            uploaded_files=len(manifest.files),
            uploaded_bytes=manifest.total_size,
        )

    def _point_latest(self, name: str, version: str, digest: str) -> None:
        key = latest_key(name, version)
        current = self.store.get_bytes(key)
        if current is not None:
            try:
                if json.loads(current).get("digest") == digest:
                    return
            except (ValueError, AttributeError):
                pass  # a corrupt pointer is simply replaced below
        self.store.put_bytes(key, json.dumps({"digest": digest}).encode())
