"""Request handling of the builtin model server: OpenAI completions for one loaded model.

Transport-independent: :class:`ModelServer.handle` answers one parsed request (see
:mod:`llm_platform.serving.httpserver`). ``stream: true`` is answered with Server-Sent Events in
OpenAI's chunk format, one event per generated token (the demo LM's tokens are characters). A
request's mistakes are 4xx with an OpenAI error body; only the server's own failures
(generation errors) are 5xx. Faults are injected by the gateway, not here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from llm_platform.serving.completions import (
    ChatRequest,
    ClientError,
    CompletionRequest,
    error_body,
    parse_request,
)
from llm_platform.serving.httpserver import JSON_CONTENT_TYPE, Request, Response, error_response
from llm_platform.serving.metrics import ServerMetrics
from llm_platform.serving.openai_paths import (
    CHAT_COMPLETIONS_PATH,
    COMPLETIONS_PATH,
    HEALTH_PATH,
    MODELS_PATH,
)
from llm_platform.serving.openai_stream import EVENT_STREAM_HEADERS, stream_events
from llm_platform.serving.streams import StreamingResponse

log = logging.getLogger("llm_platform.model_server")

# Prompt plus completion tokens per request unless --max-sequence-length says otherwise.
DEFAULT_MAX_SEQUENCE_LENGTH = 4096
# Tokens of real tokenizers average 1-4 characters; 8 leaves room for unusual text.
CHARS_PER_TOKEN_BOUND = 8


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


Route = Callable[[Request], Awaitable[Response | StreamingResponse]]


class ServerIdentity(BaseModel):
    """What this process serves; reported by ``/health`` and on every metric."""

    model: str
    version: str
    revision: str
    digest: str


def _json(status: int, obj: object) -> Response:
    return Response(status, [JSON_CONTENT_TYPE], json.dumps(obj, separators=(",", ":")).encode())


class ModelServer:
    """Request handling of the model server (transport-independent).

    Args:
        lm: the loaded model.
        identity: what this process serves (labels of every metric).
        count_tokens: the number of prompt tokens ``lm`` sees for a text.
        max_sequence_length: prompt tokens plus ``max_tokens`` may not exceed this (400).
    """

    def __init__(
        self,
        lm: LanguageModel,
        identity: ServerIdentity,
        *,
        count_tokens: Callable[[str], int],
        max_sequence_length: int = DEFAULT_MAX_SEQUENCE_LENGTH,
    ) -> None:
        self.lm = lm
        self.identity = identity
        self.count_tokens = count_tokens
        self.max_sequence_length = max_sequence_length
        self.metrics = ServerMetrics(
            identity.model, identity.version, identity.revision, identity.digest
        )
        # One generation at a time: the event loop keeps answering health checks meanwhile.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generate")
        self._routes: dict[bytes, tuple[str, Route]] = {
            HEALTH_PATH.encode(): ("GET", self.health),
            MODELS_PATH.encode(): ("GET", self.models),
            b"/metrics": ("GET", self.prometheus),
            COMPLETIONS_PATH.encode(): ("POST", self.completions),
            CHAT_COMPLETIONS_PATH.encode(): ("POST", self.chat_completions),
        }

    async def handle(self, req: Request) -> Response | StreamingResponse:
        """Dispatch by path and method; unknown paths 404, wrong methods 405."""
        route = self._routes.get(req.path)
        if route is None:
            msg = f"no endpoint {req.path.decode(errors='replace')}"
            return error_response(404, msg, "invalid_request_error", "not_found")
        method, handler = route
        if req.method != method:
            msg = f"{req.path.decode()} accepts {method}, not {req.method}"
            return error_response(405, msg, "invalid_request_error", "method_not_allowed")
        return await handler(req)

    async def health(self, _: Request) -> Response:
        body: dict[str, Any] = {"status": "ok", **self.identity.model_dump()}
        return _json(200, body)

    async def models(self, _: Request) -> Response:
        card = {
            "id": self.identity.model,
            "object": "model",
            "created": 0,
            "owned_by": "llm-platform",
            "version": self.identity.version,
            "revision": self.identity.revision,
            "max_model_len": self.max_sequence_length,
        }
        return _json(200, {"object": "list", "data": [card]})

    async def prometheus(self, _: Request) -> Response:
        body = generate_latest(self.metrics.registry)
        return Response(200, [(b"content-type", CONTENT_TYPE_LATEST.encode())], body)

    def _fail(
        self, status: int, message: str, type_: str, code: str, param: str | None = None
    ) -> Response:
        if status >= 500:
            self.metrics.errors.inc()
        body = error_body(message, type_=type_, code=code, param=param)
        return _json(status, body)

    def _prompt_tokens(self, prompt: str) -> tuple[int, bool]:
        """(token count, exact); not exact means the prompt surely exceeds the context.

        Only a prefix of ``CHARS_PER_TOKEN_BOUND`` characters per allowed token is tokenized
        first: a huge prompt is refused at the cost of the limit, not of its own size (a 1 MiB
        prompt would otherwise hold the GIL for the whole tokenization).
        """
        head = prompt[: self.max_sequence_length * CHARS_PER_TOKEN_BOUND]
        count = self.count_tokens(head)
        if len(head) == len(prompt):
            return count, True
        if count > self.max_sequence_length:
            return count, False
        return self.count_tokens(prompt), True

    async def completions(self, request: Request) -> Response | StreamingResponse:
        """``POST /v1/completions``."""
        return await self._timed(request, CompletionRequest)

    async def chat_completions(self, request: Request) -> Response | StreamingResponse:
        """``POST /v1/chat/completions`` (the messages' contents, one per line, are the prompt)."""
        return await self._timed(request, ChatRequest)

    async def _timed(
        self, request: Request, schema: type[CompletionRequest | ChatRequest]
    ) -> Response | StreamingResponse:
        start = time.perf_counter()
        self.metrics.requests.inc()
        try:
            return await self._complete(request, schema)
        finally:
            self.metrics.duration.observe(time.perf_counter() - start)

    async def _complete(
        self, request: Request, schema: type[CompletionRequest | ChatRequest]
    ) -> Response | StreamingResponse:
        parsed = parse_request(request.body, schema)
        if isinstance(parsed, ClientError):
            return self._fail(
                400, parsed.message, "invalid_request_error", parsed.code, parsed.param
            )
        req = parsed
        if req.model != self.identity.model:
            msg = f"model {req.model!r} is not served here (this is {self.identity.model!r})"
            return self._fail(404, msg, "invalid_request_error", "model_not_found", "model")
        loop = asyncio.get_running_loop()
        # Counted off the event loop and off the generation thread, and only as far as needed.
        prompt_tokens, exact = await loop.run_in_executor(
            None, self._prompt_tokens, req.prompt_text
        )
        if prompt_tokens + req.max_tokens > self.max_sequence_length:
            asked = str(prompt_tokens) if exact else f"at least {prompt_tokens}"
            msg = (
                f"this model's maximum context length is {self.max_sequence_length} tokens; "
                f"the request asks for {asked} in the prompt and {req.max_tokens} for the "
                "completion"
            )
            return self._fail(
                400, msg, "invalid_request_error", "context_length_exceeded", "prompt"
            )
        try:
            gen = await loop.run_in_executor(
                self.executor,
                lambda: self.lm.generate(
                    req.prompt_text,
                    max_tokens=req.max_tokens,
                    temperature=req.temperature,
                    seed=req.seed,
                    stop=req.stop_list,
                ),
            )
        except Exception as exc:  # a valid request the model could not serve: a server failure
            log.exception("generation failed")
            return self._fail(500, f"generation failed: {exc}", "server_error", "generation_failed")
        self.metrics.completion_tokens.inc(gen.completion_tokens)
        usage = {
            "prompt_tokens": gen.prompt_tokens,
            "completion_tokens": gen.completion_tokens,
            "total_tokens": gen.prompt_tokens + gen.completion_tokens,
        }
        if req.stream:
            events = stream_events(
                chat=isinstance(req, ChatRequest),
                model=self.identity.model,
                pieces=gen.text,  # one token per character
                finish_reason=gen.finish_reason,
                usage=usage if req.include_usage else None,
            )
            return StreamingResponse(200, list(EVENT_STREAM_HEADERS), _aiter(events))
        if isinstance(req, ChatRequest):
            kind, prefix = "chat.completion", "chatcmpl"
            choice: dict[str, Any] = {"message": {"role": "assistant", "content": gen.text}}
        else:
            kind, prefix = "text_completion", "cmpl"
            choice = {"text": gen.text, "logprobs": None}
        return _json(
            200,
            {
                "id": f"{prefix}-{uuid.uuid4().hex[:24]}",
                "object": kind,
                "created": int(time.time()),
                "model": self.identity.model,
                "choices": [{"index": 0, **choice, "finish_reason": gen.finish_reason}],
                "usage": usage,
            },
        )


async def _aiter(events: Iterator[bytes]) -> AsyncGenerator[bytes, None]:
    for item in events:
        yield item
