"""An OpenAI-compatible model server for one verified model artifact.

Run as::

    python -m llm_platform.serving.model_server --artifact DIR --expected-digest SHA256 \\
        --model NAME --version V --revision REV --host 127.0.0.1 --port N \\
        [--max-sequence-length N] [--fail-load]
        [limits: --max-body-bytes N --header-timeout S ...]

Before serving it recomputes the artifact's manifest digest and refuses to start (exit 1, reason
on stderr) unless it equals ``--expected-digest``: a deployment serves exactly the bytes that
were scanned and approved. Generation runs on one worker thread so the event loop keeps
answering ``/health`` and ``/metrics`` while the model is busy. It is served by the same small
HTTP server as the gateway, with the same limits (:mod:`llm_platform.serving.limits`); a
request's mistakes are 4xx with an OpenAI error body, only the server's own failures are 5xx.
Faults (latency, errors, stalled or cut streams) are injected by the gateway for every engine
(:mod:`llm_platform.serving.faults`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from prometheus_client import disable_created_metrics
from pydantic import ValidationError

from llm_platform.common.digest import DigestError, bare_digest, digest_directory
from llm_platform.serving.httpserver import run, serve
from llm_platform.serving.limits import add_limit_arguments, limits_from_arguments
from llm_platform.serving.model_app import (
    DEFAULT_MAX_SEQUENCE_LENGTH,
    ModelServer,
    ServerIdentity,
)

log = logging.getLogger("llm_platform.model_server")


class StartupError(Exception):
    """The server must not start (digest mismatch, load failure)."""


def verify_artifact(artifact: Path, expected_digest: str) -> str:
    """Recompute the manifest digest of ``artifact`` and compare it with the expected one.

    Returns:
        The verified digest (hex).

    Raises:
        StartupError: the artifact cannot be hashed or its digest differs.
    """
    try:
        actual = digest_directory(artifact).digest
    except DigestError as exc:
        raise StartupError(f"cannot verify artifact: {exc}") from exc
    expected = bare_digest(expected_digest)
    if actual != expected:
        raise StartupError(
            f"artifact digest mismatch for {artifact}: expected {expected}, found {actual}; "
            "refusing to serve bytes that were not approved"
        )
    return actual


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m llm_platform.serving.model_server")
    p.add_argument("--artifact", required=True, type=Path, help="model artifact directory")
    p.add_argument("--expected-digest", required=True, help="manifest sha256 to verify")
    p.add_argument("--model", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--revision", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument(
        "--max-sequence-length",
        type=int,
        default=DEFAULT_MAX_SEQUENCE_LENGTH,
        help="prompt + completion tokens allowed per request",
    )
    p.add_argument("--fail-load", action="store_true", help="simulate a model load failure")
    add_limit_arguments(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see module docstring); returns the exit code."""
    args = _parse_args(argv)
    disable_created_metrics()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        limits = limits_from_arguments(args)
    except ValidationError as exc:
        sys.stderr.write(f"model_server: invalid settings: {exc}\n")
        return 2
    if args.max_sequence_length < 1:
        sys.stderr.write("model_server: --max-sequence-length must be >= 1\n")
        return 2
    try:
        digest = verify_artifact(args.artifact, args.expected_digest)
        if args.fail_load:
            raise StartupError(f"model load failed for {args.artifact} (--fail-load was given)")
        from llm_platform.demo_model import load

        lm = load(args.artifact)
    except StartupError as exc:
        sys.stderr.write(f"model_server: {exc}\n")
        return 1
    except Exception as exc:  # any loader failure must stop the process with its reason
        sys.stderr.write(f"model_server: cannot load model from {args.artifact}: {exc!r}\n")
        return 1
    identity = ServerIdentity(
        model=args.model, version=args.version, revision=args.revision, digest=digest
    )
    server = ModelServer(
        lm,
        identity,
        count_tokens=lambda text: len(lm.tokenizer.encode(text)),
        max_sequence_length=args.max_sequence_length,
    )
    started = False

    def on_start() -> None:
        nonlocal started
        started = True
        log.info("serving %s on %s:%d", identity, args.host, args.port)

    try:
        run(serve(server.handle, args.host, args.port, limits=limits, on_start=on_start))
    except OSError as exc:
        sys.stderr.write(f"model_server: cannot listen on {args.host}:{args.port}: {exc}\n")
        return 1
    finally:
        server.executor.shutdown(wait=False, cancel_futures=True)
    return 0 if started else 1


if __name__ == "__main__":
    sys.exit(main())
