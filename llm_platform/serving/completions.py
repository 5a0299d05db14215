"""OpenAI completion and chat request schemas, their parsing, and OpenAI error bodies.

Everything a client can get wrong in a body is decided here, as data (:class:`ClientError`),
so that a server answers it with a 4xx: a malformed request must never surface as a server
failure, which would count against the deployment's error-rate objective.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from llm_platform.serving.openai_stream import StreamOptions

MAX_TOKENS_CAP = 512
# The largest seed numpy's generators accept is unbounded, but a seed is a 64-bit value in
# every OpenAI-compatible engine; negative seeds are refused rather than reinterpreted.
MAX_SEED = 2**64 - 1


class _Sampling(BaseModel):
    """Fields shared by completions and chat completions.

    Unknown fields that OpenAI clients commonly send (``user``, ``logprobs``: null, ...) are
    accepted and ignored; options that would change the answer's shape (``n`` > 1, ``echo``)
    are refused so a client never receives something other than it asked for. ``stream`` is
    answered with Server-Sent Events (``stream_options.include_usage`` adds a usage chunk).
    """

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    max_tokens: int = Field(default=16, ge=1, le=MAX_TOKENS_CAP)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    stop: str | list[str] | None = None
    n: int = Field(default=1, ge=1, le=1)
    stream: bool = Field(default=False, strict=True)
    stream_options: StreamOptions | None = None

    @field_validator("stop")
    @classmethod
    def _stop_limit(cls, v: str | list[str] | None) -> str | list[str] | None:
        stops = [v] if isinstance(v, str) else (v or [])
        if len(stops) > 4:
            raise ValueError("at most 4 stop sequences")
        if any(not s for s in stops):
            raise ValueError("stop sequences must be non-empty strings")
        return v

    @property
    def include_usage(self) -> bool:
        """Whether a stream ends with a usage chunk."""
        return self.stream_options is not None and self.stream_options.include_usage

    @property
    def stop_list(self) -> list[str] | None:
        """Stop sequences as a list (None when absent)."""
        if self.stop is None:
            return None
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


class ChatMessage(BaseModel):
    """One message of a chat (text content only)."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "developer"]
    content: str


class ChatRequest(_Sampling):
    """The subset of the OpenAI chat completions body the demo model supports."""

    messages: list[ChatMessage] = Field(min_length=1, max_length=256)

    @property
    def prompt_text(self) -> str:
        """The messages as one prompt: each content on its own line, the reply follows."""
        return "".join(m.content + "\n" for m in self.messages)


class CompletionRequest(_Sampling):
    """The subset of the OpenAI completions body the demo model supports."""

    prompt: str | list[str]
    echo: bool = Field(default=False)

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, list) and len(v) != 1:
            raise ValueError("a list prompt must hold exactly one string (batching unsupported)")
        return v

    @field_validator("echo")
    @classmethod
    def _no_echo(cls, v: bool) -> bool:
        if v:
            raise ValueError("not supported by this server")
        return v

    @property
    def prompt_text(self) -> str:
        """The single prompt string."""
        return self.prompt[0] if isinstance(self.prompt, list) else self.prompt


def error_body(message: str, *, type_: str, code: str, param: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error object."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def validation_message(exc: ValidationError) -> tuple[str, str | None]:
    """A one-line description of the first problems of a request body, and the field."""
    errors = exc.errors()
    parts = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in errors[:5]]
    # The body field as the client named it (not pydantic's union branch, e.g. "prompt.str").
    first = str(errors[0]["loc"][0]) if errors and errors[0]["loc"] else None
    return "; ".join(parts), first


RequestT = TypeVar("RequestT", bound=_Sampling)


@dataclass(frozen=True)
class ClientError:
    """Why a request body was refused (answered with 400)."""

    message: str
    code: str
    param: str | None = None


def parse_request(body: bytes, schema: type[RequestT]) -> RequestT | ClientError:
    """Parse and validate a request body; every client mistake becomes a ClientError."""
    try:
        payload = json.loads(body)
    except RecursionError:
        return ClientError("request body is nested too deeply", "invalid_json")
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, over-long integers
        return ClientError(f"request body is not valid JSON: {exc}", "invalid_json")
    if not isinstance(payload, dict):
        return ClientError("request body must be a JSON object", "invalid_body")
    try:
        return schema.model_validate(payload)
    except ValidationError as exc:
        message, param = validation_message(exc)
        return ClientError(message, "invalid_value", param)
    except RecursionError:  # nesting inside an ignored extra field
        return ClientError("request body is nested too deeply", "invalid_body")


def parse_completion(body: bytes) -> CompletionRequest | ClientError:
    """:func:`parse_request` for ``/v1/completions``."""
    return parse_request(body, CompletionRequest)
