"""KServe's storage initializer, replaced by one that verifies the artifact's digest.

KServe runs the init container of a ``ClusterStorageContainer`` whose ``supportedUriFormats``
match the predictor's ``storageUri`` with the arguments ``<storageUri> /mnt/models`` (the
volume the engine container reads). Artifact URIs are content-addressed
(``<store>/<name>/<version>/<digest>/files/``), so the URI names the digest its files must hash
to: ``python -m llm_platform.targets.kubernetes.storage_initializer URI DEST`` fetches every
object under ``URI`` (S3 credentials from the standard ``AWS_*`` variables), and only when the
files hash to that digest moves them to ``DEST`` itself. Otherwise it exits 1 naming the URI and
both digests, ``DEST`` stays empty and the engine never starts (KServe reports the init
container's failure in the InferenceService's ``status.modelStatus.lastFailureInfo``).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from llm_platform.artifact_store.records import FILES_PREFIX_PATTERN
from llm_platform.common.digest import DigestError, digest_directory
from llm_platform.targets.artifacts import ArtifactCache, ArtifactUnavailable

MODULE = "llm_platform.targets.kubernetes.storage_initializer"
#: The platform's ClusterStorageContainer (cluster-scoped: one per cluster, every namespace).
STORAGE_CONTAINER = "llm-platform-verified-artifacts"
#: KServe's name for the init container; its status reports failures under this name only.
INIT_CONTAINER = "storage-initializer"
#: Where the files are fetched and verified before they move to DEST (same volume: renames).
STAGING_DIR = ".llm-platform-staging"
EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

_URI = re.compile(f"(?P<root>[a-z][a-z0-9+.-]*://.+)/{FILES_PREFIX_PATTERN}")
#: What Go's ``regexp.QuoteMeta`` escapes (KServe matches ``supportedUriFormats`` with Go).
_GO_META = re.compile(r"([\\.+*?()|\[\]{}^$])")


class ArtifactLocation(BaseModel):
    """An artifact URI split into its store root and its content-addressed key."""

    model_config = ConfigDict(frozen=True)

    root: str
    name: str
    version: str
    digest: str


def parse_artifact_uri(uri: str) -> ArtifactLocation | None:
    """Store root, name, version and digest of ``uri``; None when not in the registry layout."""
    m = _URI.fullmatch(uri)
    if m is None:
        return None
    return ArtifactLocation(
        root=m["root"], name=m["name"], version=m["version"], digest=m["digest"]
    )


def uri_pattern(root: str) -> str:
    """A regular expression (RE2/Go and Python) matching exactly the artifact URIs of the
    store at ``root``: anchored, so other URIs in the same bucket never match."""
    quoted = _GO_META.sub(r"\\\1", root.rstrip("/"))
    return f"^{quoted}/{FILES_PREFIX_PATTERN}$"


def _clear(paths: list[Path]) -> None:
    for p in paths:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def place_verified(uri: str, dest: Path) -> ArtifactLocation:
    """Fetch ``uri`` and, once its files hash to the digest the URI names, put them in ``dest``.

    A ``dest`` already holding exactly the artifact (an init container run again in the same
    pod) is kept as it is.

    Raises:
        ArtifactUnavailable: ``uri`` is not an artifact URI of the registry's layout, cannot be
            fetched, or does not hash to its digest (``dest`` is left without its files), or
            ``dest`` holds other files.
    """
    loc = parse_artifact_uri(uri)
    if loc is None:
        raise ArtifactUnavailable(
            f"{uri}: not an artifact URI of the registry "
            "(<store>/<name>/<version>/<sha256 digest>/files/); refusing to serve unverified files"
        )
    dest.mkdir(parents=True, exist_ok=True)
    staging = dest / STAGING_DIR
    _clear([staging])  # left by a killed earlier run
    present = sorted(dest.iterdir())
    if present:
        try:
            got: str | None = digest_directory(dest).digest
        except (DigestError, OSError):
            got = None
        if got == loc.digest:
            return loc
        raise ArtifactUnavailable(
            f"{dest} is not empty and hashes to {got or 'nothing'}, not {loc.digest}; "
            f"refusing to mix {uri} into it"
        )
    moved: list[Path] = []
    try:
        verified = ArtifactCache(staging).resolve(loc.name, uri, loc.digest)
        for entry in sorted(verified.iterdir()):
            target = dest / entry.name
            os.replace(entry, target)
            moved.append(target)
    except OSError as exc:
        _clear(moved)
        raise ArtifactUnavailable(f"{uri}: cannot place the artifact in {dest}: {exc}") from exc
    except ArtifactUnavailable:
        _clear(moved)
        raise
    finally:
        _clear([staging])
    return loc


def main(argv: list[str] | None = None) -> int:
    """``URI DEST`` (KServe's storage-initializer arguments): 0 once DEST holds the verified
    files, 1 when the URI is not an artifact URI or its files do not hash to its digest."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.stderr.write(
            f"usage: python -m {MODULE} URI DEST (one artifact URI and its destination; "
            f"got {len(args)} arguments)\n"
        )
        return EXIT_USAGE
    uri, dest = args
    try:
        loc = place_verified(uri, Path(dest))
    except ArtifactUnavailable as exc:
        sys.stderr.write(f"storage-initializer: {exc}\n")
        return EXIT_FAIL
    sys.stderr.write(f"storage-initializer: {uri} verified as {loc.digest} at {dest}\n")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
