"""llama-cpp-python's server, with a chat format for GGUF files that carry no chat template.

Without ``tokenizer.chat_template`` llama-cpp-python falls back to the llama-2 format; models of
other families then answer chat requests with empty content (Gemma 3 270M: 0 tokens). This
module reads the GGUF metadata with the scanner's parser and, when the file has no template,
passes the chat format of its architecture, then runs ``llama_cpp.server`` in this process.
An explicit ``--chat_format`` always wins.

llama-cpp-python has no Prometheus endpoint, yet the availability objective reads Prometheus'
``up`` for every model server; the app therefore gets a ``/metrics`` route (the process's
``prometheus_client`` registry), so a scrape succeeds exactly while the server answers.

Its own routes (``/v1/models`` too) wait for the model's lock, i.e. for the current generation
to end; a liveness probe on them takes a busy server for a dead one. The app therefore also gets
``/health`` (llama-server's path): answered by the event loop without the lock, while the
generation runs in its worker thread, and only once the model is loaded (the app is created
after that). ``busy`` says whether a generation holds the model.

Run by the digest-verifying launcher: ``--module llm_platform.serving.engines.llama_server``.
"""

from __future__ import annotations

import importlib.util
import runpy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llm_platform.security.gguf import GgufError, parse_gguf

SERVER_MODULE = "llama_cpp.server"
#: The Prometheus endpoint this wrapper adds to llama-cpp-python's app.
METRICS_PATH = "/metrics"
#: The health route this wrapper adds (answers while a generation runs).
HEALTH_PATH = "/health"
# general.architecture -> llama-cpp-python chat format, for files without a chat template.
CHAT_FORMATS = {"gemma": "gemma", "gemma2": "gemma", "gemma3": "gemma"}


def chat_format_args(model: Path) -> list[str]:
    """``["--chat_format", F]`` when ``model`` has no chat template and F is known, else []."""
    try:
        summary = parse_gguf(model)
    except (GgufError, OSError):
        return []  # llama.cpp reports an unreadable model itself
    if summary.chat_templates:
        return []
    fmt = CHAT_FORMATS.get(str(summary.metadata.get("general.architecture")))
    return ["--chat_format", fmt] if fmt else []


def server_args(args: list[str]) -> list[str]:
    """The server's arguments with a chat format added where the model needs one."""
    if "--chat_format" in args or "--model" not in args:
        return args
    return [*args, *chat_format_args(Path(args[args.index("--model") + 1]))]


def _with_own_routes(create_app: Callable[..., Any], lock: Any) -> Callable[..., Any]:
    """Wrap llama-cpp-python's app factory so the app also serves :data:`METRICS_PATH` and
    :data:`HEALTH_PATH` (``lock``: the model's lock, only read, never taken)."""

    def create(*args: Any, **kwargs: Any) -> Any:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
        from starlette.responses import JSONResponse, Response

        app = create_app(*args, **kwargs)

        def metrics() -> Response:
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

        # `async`: runs on the event loop itself, never queued behind the worker threads.
        async def health() -> JSONResponse:
            return JSONResponse({"status": "ok", "busy": bool(lock.locked())})

        app.add_api_route(METRICS_PATH, metrics, methods=["GET"], include_in_schema=False)
        app.add_api_route(HEALTH_PATH, health, methods=["GET"], include_in_schema=False)
        return app

    return create


def main() -> None:
    """Run ``llama_cpp.server`` with :func:`server_args` applied to this process's argv."""
    if importlib.util.find_spec("llama_cpp") is None:
        sys.exit("llama_server: llama-cpp-python is not installed (run `make install`)")
    import llama_cpp.server.app as server_app

    server_app.create_app = _with_own_routes(  # type: ignore[assignment]
        server_app.create_app, server_app.llama_inner_lock
    )
    sys.argv = [SERVER_MODULE, *server_args(sys.argv[1:])]
    runpy.run_module(SERVER_MODULE, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
