"""Request-body fields beyond OpenAI's that an engine understands, and how each is checked.

Each engine lists the extensions it accepts (``Engine.extensions``, the one table per engine);
the gateway forwards an extension only when the revision's engine lists it and it is enabled:
``default`` ones always, the others only when the environment names them in
``serving.extensions`` of ``config/<env>.yaml``. Every value is checked before any engine sees
it, so that no single request can crash an engine (llama.cpp dies on an unbalanced grammar).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from llm_platform.serving.engines.gbnf import check_grammar

#: A value check: None when the value is acceptable, else what is wrong with it.
Check = Callable[[object], str | None]


@dataclass(frozen=True)
class Extension:
    """One engine-specific body field.

    Attributes:
        name: the body key.
        check: validates a value (None: valid; else the problem, for the 400's message).
        default: enabled in every environment (False: only where ``serving.extensions`` says).
    """

    name: str
    check: Check
    default: bool = True


#: Every chat role of OpenAI's API.
CHAT_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


@dataclass(frozen=True)
class MessageRules:
    """Which chat messages an engine takes (OpenAI's API allows all of them).

    Attributes:
        roles: the roles it accepts.
        part_roles: roles whose content may be a list of text parts (else a string).
        null_assistant_content: an assistant message with ``tool_calls`` may have no content.
    """

    roles: frozenset[str] = CHAT_ROLES
    part_roles: frozenset[str] = CHAT_ROLES
    null_assistant_content: bool = True


#: llama-cpp-python's message types (anything else is a 500 there): no developer role, text
#: parts only in user messages, an assistant's content always a string.
LLAMA_CPP_MESSAGES = MessageRules(
    roles=frozenset({"system", "user", "assistant", "tool"}),
    part_roles=frozenset({"user"}),
    null_assistant_content=False,
)


def int_range(low: int, high: int) -> Check:
    """A check accepting integers (not booleans) in ``[low, high]``."""

    def check(value: object) -> str | None:
        if type(value) is not int or not low <= value <= high:
            return f"must be an integer from {low} to {high}"
        return None

    return check


def number_range(low: float, high: float) -> Check:
    """A check accepting finite numbers in ``[low, high]``."""

    def check(value: object) -> str | None:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not low <= value <= high
        ):
            return f"must be a number from {low:g} to {high:g}"
        return None

    return check


def one_of(*choices: str) -> Check:
    """A check accepting one of ``choices``."""

    def check(value: object) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return check


def _grammar(value: object) -> str | None:
    if not isinstance(value, str):
        return "must be a GBNF grammar (a string)"
    return check_grammar(value)


INT32_MAX = 2**31 - 1

#: llama.cpp's sampling extensions (llama-cpp-python's server; llama-server accepts the same).
LLAMA_CPP_EXTENSIONS: tuple[Extension, ...] = (
    Extension("top_k", int_range(0, INT32_MAX)),
    Extension("min_p", number_range(0.0, 1.0)),
    Extension("repeat_penalty", number_range(0.0, 10.0)),
    Extension("min_tokens", int_range(0, INT32_MAX)),
    Extension("mirostat_mode", int_range(0, 2)),
    Extension("mirostat_tau", number_range(0.0, 10.0)),
    Extension("mirostat_eta", number_range(0.001, 1.0)),
    Extension("grammar", _grammar, default=False),
)

#: vLLM's sampling extensions.
VLLM_EXTENSIONS: tuple[Extension, ...] = (
    Extension("top_k", int_range(-1, INT32_MAX)),
    Extension("min_p", number_range(0.0, 1.0)),
    Extension("repetition_penalty", number_range(0.0, 10.0)),
    Extension("min_tokens", int_range(0, INT32_MAX)),
)
