"""The local runtime's artifact cache: a revision's store URI + digest as a verified directory.

A revision names its artifact the way every target can use it: the URI of the artifact's files
in the store (``file://...`` or ``s3://...``, the registry record's ``artifact_uri``) and its
manifest digest. A cluster runtime hands the URI to its storage initializer; the local runtime
copies the files into ``home/artifact-cache/<model>/<digest>`` and serves from there, but only
after the copy hashes to the digest (a half-fetched or tampered artifact is never served).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from llm_platform.artifact_store import ObjectStore, StoreError, open_store
from llm_platform.common.digest import DigestError, digest_directory
from llm_platform.targets.base import RuntimeErrorBase

StoreOpener = Callable[[str], ObjectStore]

log = logging.getLogger(__name__)


class ArtifactUnavailable(RuntimeErrorBase):
    """An artifact cannot be fetched from its URI or does not hash to its digest."""


class ArtifactCache:
    """Verified local copies of artifacts, keyed by model and digest.

    Args:
        root: the cache directory (``home/artifact-cache``).
        opener: opens the store a URI names (default: ``llm_platform.artifact_store.open_store``,
            S3 credentials from the standard ``AWS_*`` variables).
    """

    def __init__(self, root: Path, opener: StoreOpener | None = None) -> None:
        self.root = root
        self.opener = opener or open_store

    def path(self, model: str, digest: str) -> Path:
        """Where the verified copy of ``digest`` lies (whether or not it exists yet)."""
        return self.root / model / digest

    def resolve(self, model: str, uri: str, digest: str) -> Path:
        """Make ``uri``'s files available locally as a directory hashing to ``digest``.

        An existing copy is re-hashed and reused; otherwise every object under ``uri`` is
        streamed into a temporary directory that replaces the cache entry only when its
        manifest digest matches.

        Raises:
            ArtifactUnavailable: the store cannot be read, holds no files, or the files do
                not hash to ``digest`` (the message names the URI and both digests).
        """
        dest = self.path(model, digest)
        if dest.is_dir():
            if self._digest_of(dest) == digest:
                return dest
            log.warning("%s does not hash to %s; fetching %s again", dest, digest[:12], uri)
            shutil.rmtree(dest, ignore_errors=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=dest.parent))
        try:
            self._fetch(uri, tmp)
            got = self._digest_of(tmp)
            if got != digest:
                raise ArtifactUnavailable(
                    f"{uri}: files hash to {got or 'nothing'}, the revision names {digest}"
                )
            try:
                os.replace(tmp, dest)
            except OSError:
                if self._digest_of(dest) != digest:  # a concurrent fetch won the rename
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return dest

    def _fetch(self, uri: str, into: Path) -> None:
        try:
            store = self.opener(uri)
            keys = store.list_keys("")
            if not keys:
                raise ArtifactUnavailable(f"{uri}: no artifact files there")
            for key in keys:
                target = into / key
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "wb") as out:
                    for chunk in store.iter_chunks(key):
                        out.write(chunk)
        except (StoreError, OSError) as exc:
            raise ArtifactUnavailable(f"{uri}: cannot fetch the artifact: {exc}") from exc

    @staticmethod
    def _digest_of(directory: Path) -> str | None:
        try:
            return digest_directory(directory).digest
        except (DigestError, OSError):
            return None
