"""Fetch a revision's artifact from the store and verify its digest (a pod's init container).

Run as
``python -m llm_platform.targets.kubernetes.fetch --model M --uri URI --digest D --cache DIR``;
the verified files land in ``DIR/M/D`` (the engine container's model directory), or the
process exits 1 naming the URI and both digests, so the engine never starts on other bytes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llm_platform.targets.artifacts import ArtifactCache, ArtifactUnavailable

MODULE = "llm_platform.targets.kubernetes.fetch"


def model_dir(cache: str, model: str, digest: str) -> str:
    """Where :func:`main` puts the verified artifact under ``cache``."""
    return f"{cache.rstrip('/')}/{model}/{digest}"


def main(argv: list[str] | None = None) -> int:
    """Fetch and verify; 0 when the files hash to the digest, 1 otherwise."""
    p = argparse.ArgumentParser(prog=f"python -m {MODULE}")
    p.add_argument("--model", required=True)
    p.add_argument("--uri", required=True, help="the artifact's files in the store")
    p.add_argument("--digest", required=True, help="registered manifest sha256")
    p.add_argument("--cache", required=True, type=Path, help="the shared model volume")
    args = p.parse_args(argv)
    try:
        path = ArtifactCache(args.cache).resolve(args.model, args.uri, args.digest)
    except ArtifactUnavailable as exc:
        sys.stderr.write(f"fetch: {exc}\n")
        return 1
    sys.stderr.write(f"fetch: {args.uri} verified as {args.digest} at {path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
