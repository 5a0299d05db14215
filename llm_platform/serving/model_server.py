"""An OpenAI-compatible model server for one verified model artifact.

Run as::

    python -m llm_platform.serving.model_server --artifact DIR --expected-digest SHA256 \\
        --model NAME --version V --revision REV --host 127.0.0.1 --port N \\
        [--latency-ms X] [--error-rate P] [--fault-seed S] [--fault-file PATH] [--fail-load]

Before serving it recomputes the artifact's manifest digest and refuses to start (exit 1, reason
on stderr) unless it equals ``--expected-digest``: a deployment serves exactly the bytes that
were scanned and approved. Generation runs on one worker thread so the event loop keeps
answering ``/health`` and ``/metrics`` while the model is busy.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, disable_created_metrics, generate_latest
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from llm_platform.digest import DigestError, digest_directory
from llm_platform.serving.completions import ClientError, error_body, parse_completion
from llm_platform.serving.faults import FaultInjector, FaultSettings
from llm_platform.serving.metrics import ServerMetrics

log = logging.getLogger("llm_platform.model_server")


class GenerationLike(Protocol):
    """What the server needs from a generation result (``demo_model.Generation``)."""

    @property
    def text(self) -> str: ...
    @property
    def prompt_tokens(self) -> int: ...
    @property
    def completion_tokens(self) -> int: ...
    @property
    def finish_reason(self) -> str: ...


class LanguageModel(Protocol):
    """What the server needs from a model (``demo_model.DemoLM``)."""

    def generate(
        self,
        prompt: str,
        *,
        max_tokens: int = 32,
        temperature: float = 0.0,
        seed: int | None = None,
        stop: list[str] | None = None,
    ) -> GenerationLike: ...


class ServerIdentity(BaseModel):
    """What this process serves; reported by ``/health`` and on every metric."""

    model: str
    version: str
    revision: str
    digest: str


class StartupError(Exception):
    """The server must not start (digest mismatch, load failure)."""


def normalize_digest(value: str) -> str:
    """Accept ``sha256:<hex>`` or ``<hex>``; return lower-case hex."""
    return value.removeprefix("sha256:").strip().lower()


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
    expected = normalize_digest(expected_digest)
    if actual != expected:
        raise StartupError(
            f"artifact digest mismatch for {artifact}: expected {expected}, found {actual}; "
            "refusing to serve bytes that were not approved"
        )
    return actual


def build_app(lm: LanguageModel, identity: ServerIdentity, faults: FaultInjector) -> Starlette:
    """The Starlette application serving ``lm``."""
    metrics = ServerMetrics(identity.model, identity.version, identity.revision, identity.digest)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generate")

    async def health(_: Request) -> Response:
        body: dict[str, Any] = {"status": "ok", **identity.model_dump()}
        if faults.error:
            body["fault_file_error"] = faults.error
        return JSONResponse(body)

    async def models(_: Request) -> Response:
        card = {
            "id": identity.model,
            "object": "model",
            "created": 0,
            "owned_by": "llm-platform",
            "version": identity.version,
            "revision": identity.revision,
        }
        return JSONResponse({"object": "list", "data": [card]})

    async def prometheus(_: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def fail(
        status: int, message: str, type_: str, code: str, param: str | None = None
    ) -> Response:
        if status >= 500:
            metrics.errors.inc()
        return JSONResponse(error_body(message, type_=type_, code=code, param=param), status)

    async def completions(request: Request) -> Response:
        start = time.perf_counter()
        metrics.requests.inc()
        try:
            return await _complete(request)
        finally:
            metrics.duration.observe(time.perf_counter() - start)

    async def _complete(request: Request) -> Response:
        parsed = parse_completion(await request.body())
        if isinstance(parsed, ClientError):
            return fail(400, parsed.message, "invalid_request_error", parsed.code, parsed.param)
        req = parsed
        if req.model != identity.model:
            return fail(
                404,
                f"model {req.model!r} is not served here (this is {identity.model!r})",
                "invalid_request_error",
                "model_not_found",
                "model",
            )
        settings = faults.refresh()
        if settings.latency_ms > 0:
            await asyncio.sleep(settings.latency_ms / 1000.0)
        if faults.should_fail(settings):
            return fail(
                500,
                f"injected fault (error_rate={settings.error_rate})",
                "server_error",
                "injected_fault",
            )
        loop = asyncio.get_running_loop()
        try:
            gen = await loop.run_in_executor(
                executor,
                lambda: lm.generate(
                    req.prompt_text,
                    max_tokens=req.max_tokens,
                    temperature=req.temperature,
                    seed=req.seed,
                    stop=req.stop_list,
                ),
            )
        except Exception as exc:  # report any model failure as a 500, with its reason
            log.exception("generation failed")
            return fail(500, f"generation failed: {exc}", "server_error", "generation_failed")
        metrics.completion_tokens.inc(gen.completion_tokens)
        return JSONResponse(
            {
                "id": f"cmpl-{uuid.uuid4().hex[:24]}",
                "object": "text_completion",
                "created": int(time.time()),
                "model": identity.model,
                "choices": [
                    {
                        "index": 0,
                        "text": gen.text,
                        "finish_reason": gen.finish_reason,
                        "logprobs": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": gen.prompt_tokens,
                    "completion_tokens": gen.completion_tokens,
                    "total_tokens": gen.prompt_tokens + gen.completion_tokens,
                },
            }
        )

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/metrics", prometheus, methods=["GET"]),
        Route("/v1/completions", completions, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m llm_platform.serving.model_server")
    p.add_argument("--artifact", required=True, type=Path, help="model artifact directory")
    p.add_argument("--expected-digest", required=True, help="manifest sha256 to verify")
    p.add_argument("--model", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--revision", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--latency-ms", type=float, default=0.0, help="injected latency per request")
    p.add_argument("--error-rate", type=float, default=0.0, help="probability of a 500")
    p.add_argument("--fault-seed", type=int, default=None)
    p.add_argument("--fault-file", type=Path, default=None, help="JSON {latency_ms, error_rate}")
    p.add_argument("--fail-load", action="store_true", help="simulate a model load failure")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see module docstring); returns the exit code."""
    import uvicorn

    args = _parse_args(argv)
    disable_created_metrics()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        base = FaultSettings(latency_ms=args.latency_ms, error_rate=args.error_rate)
    except ValidationError as exc:
        sys.stderr.write(f"model_server: invalid fault settings: {exc}\n")
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
    faults = FaultInjector(base, fault_file=args.fault_file, seed=args.fault_seed)
    faults.refresh()
    log.info("serving %s on %s:%d", identity, args.host, args.port)
    config = uvicorn.Config(
        build_app(lm, identity, faults),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        timeout_keep_alive=75,
    )
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
