"""Checks of single OpenAI request fields, shared by completions and chat (types and ranges as
OpenAI defines them). A check raises :class:`FieldError` naming the field (``param``)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from llm_platform.serving.completions import MAX_SEED
from llm_platform.serving.engines.extensions import MessageRules

MAX_STOP_SEQUENCES = 4
MAX_LOGIT_BIAS = 1024
MAX_METADATA_PAIRS = 16
#: Nesting of free-form JSON values (tool parameters, schemas) the gateway forwards.
MAX_FREE_DEPTH = 32
_TOKEN_ID = re.compile(r"0|[1-9][0-9]{0,9}")


class FieldError(ValueError):
    """A field of a request body is invalid: ``param`` names it (``messages[2].role``)."""

    def __init__(self, param: str, message: str, code: str = "invalid_value") -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Limits:
    """What the revision's engine can take, beyond OpenAI's own ranges."""

    engine: str
    context_size: int
    max_prompts: int
    token_prompts: bool
    logprobs: bool
    logit_bias: bool
    messages: MessageRules = MessageRules()


def is_int(value: object) -> bool:
    """A JSON integer (booleans are not)."""
    return type(value) is int


def number(param: str, value: object, low: float, high: float) -> None:
    """A finite number in ``[low, high]``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise FieldError(param, f"must be a number from {low:g} to {high:g}, got {value!r:.40}")


def integer(param: str, value: object, low: int, high: int) -> None:
    """An integer in ``[low, high]``."""
    if not is_int(value) or not low <= value <= high:  # type: ignore[operator]
        raise FieldError(param, f"must be an integer from {low} to {high}, got {value!r:.40}")


def string(param: str, value: object, *, empty: bool = True) -> str:
    """A string (non-empty unless ``empty``)."""
    if not isinstance(value, str) or (not empty and not value):
        raise FieldError(param, "must be a " + ("string" if empty else "non-empty string"))
    return value


def boolean(param: str, value: object) -> None:
    """``true`` or ``false``."""
    if not isinstance(value, bool):
        raise FieldError(param, "must be true or false")


def free_json(param: str, value: object, depth: int = 0) -> None:
    """Any JSON value nested at most :data:`MAX_FREE_DEPTH` levels."""
    if depth > MAX_FREE_DEPTH:
        raise FieldError(param, f"nested deeper than {MAX_FREE_DEPTH} levels")
    if isinstance(value, dict):
        for v in value.values():
            free_json(param, v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            free_json(param, v, depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise FieldError(param, "numbers must be finite")


def max_tokens(param: str, value: object, limits: Limits) -> None:
    """A positive token count within the model's context (400 beyond it, as OpenAI)."""
    if value is None:
        return
    if not is_int(value) or value < 1:  # type: ignore[operator]
        raise FieldError(param, f"must be a positive integer, got {value!r:.40}")
    if value > limits.context_size:  # type: ignore[operator]
        raise FieldError(
            param,
            f"this model's maximum context length is {limits.context_size} tokens; "
            f"{value!r:.40} tokens were requested",
            "context_length_exceeded",
        )


def stop(param: str, value: object) -> None:
    """Null, a string, or up to 4 non-empty strings."""
    if value is None or (isinstance(value, str) and value):
        return
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= MAX_STOP_SEQUENCES
        or not all(isinstance(s, str) and s for s in value)
    ):
        raise FieldError(param, f"must be a non-empty string or 1 to {MAX_STOP_SEQUENCES} of them")


def seed(param: str, value: object) -> None:
    """Null or a 64-bit unsigned integer."""
    if value is not None:
        integer(param, value, 0, MAX_SEED)


def logit_bias(param: str, value: object, limits: Limits) -> None:
    """Token-id strings to biases from -100 to 100."""
    if value is None:
        return
    if not isinstance(value, dict) or len(value) > MAX_LOGIT_BIAS:
        raise FieldError(param, f"must map at most {MAX_LOGIT_BIAS} token ids to biases")
    if value and not limits.logit_bias:
        raise FieldError(param, f"not supported by engine {limits.engine}", "unsupported_parameter")
    for key, bias in value.items():
        if not _TOKEN_ID.fullmatch(key):
            raise FieldError(param, f"keys must be token ids (digits), got {key!r:.40}")
        number(f"{param}.{key}", bias, -100, 100)


def stream_options(param: str, value: object, streamed: bool) -> None:
    """Null, or ``{"include_usage": bool}`` on a streamed request."""
    if value is None:
        return
    if not streamed:
        raise FieldError(param, "only allowed when stream is true")
    if not isinstance(value, dict) or not set(value) <= {"include_usage"}:
        raise FieldError(param, 'must be {"include_usage": true|false}')
    if "include_usage" in value:
        boolean(f"{param}.include_usage", value["include_usage"])


def metadata(param: str, value: object) -> None:
    """Null or up to 16 string pairs."""
    if value is None:
        return
    if (
        not isinstance(value, dict)
        or len(value) > MAX_METADATA_PAIRS
        or not all(isinstance(v, str) for v in value.values())
    ):
        raise FieldError(param, f"must map at most {MAX_METADATA_PAIRS} keys to strings")


def prompt(param: str, value: object, limits: Limits) -> None:
    """A string, a list of strings, or token ids (one list, or a list of lists)."""
    if isinstance(value, str):
        return
    if not isinstance(value, list) or not value:
        raise FieldError(param, "must be a string or a non-empty list of strings or token ids")
    if all(isinstance(p, str) for p in value):
        count = len(value)
    elif all(is_int(t) for t in value):
        count = 1
        _token_prompt(param, value, limits)
    elif all(isinstance(p, list) for p in value):
        count = len(value)
        for i, p in enumerate(value):
            _token_prompt(f"{param}[{i}]", p, limits)
    else:
        raise FieldError(param, "must be a string or a non-empty list of strings or token ids")
    if count > limits.max_prompts:
        raise FieldError(
            param, f"engine {limits.engine} takes at most {limits.max_prompts} prompt(s) at once"
        )


def _token_prompt(param: str, value: list[object], limits: Limits) -> None:
    if not limits.token_prompts:
        raise FieldError(param, f"engine {limits.engine} takes text prompts only")
    if not value or not all(is_int(t) and 0 <= t < 2**31 for t in value):  # type: ignore[operator]
        raise FieldError(param, "token ids must be non-negative integers")
