"""Checks of a chat request's ``messages``, ``tools``, ``tool_choice`` and ``response_format``.

Messages have a valid role and text content; an assistant message may carry ``tool_calls``,
and every ``tool`` message answers one of them: it follows (possibly after other tool messages)
the assistant message whose ``tool_calls`` hold its ``tool_call_id``.
"""

from __future__ import annotations

import re

from llm_platform.serving.engines.extensions import MessageRules
from llm_platform.serving.request_fields import FieldError, free_json, string

MAX_MESSAGES = 2048
MAX_TOOLS = 128
_FUNCTION_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_KEYS = {
    "system": {"role", "content", "name"},
    "developer": {"role", "content", "name"},
    "user": {"role", "content", "name"},
    "assistant": {"role", "content", "name", "tool_calls", "refusal"},
    "tool": {"role", "content", "tool_call_id"},
}


def _content(param: str, value: object, *, parts: bool, optional: bool = False) -> None:
    """Text: a string or (``parts``) a non-empty list of ``{"type": "text", "text": ...}``."""
    if isinstance(value, str) or (optional and value is None):
        return
    if not parts:
        raise FieldError(param, "must be a string for this engine")
    if not isinstance(value, list) or not value:
        raise FieldError(param, "must be a string or a non-empty list of text parts")
    for i, part in enumerate(value):
        if (
            not isinstance(part, dict)
            or part.get("type") != "text"
            or not isinstance(part.get("text"), str)
            or set(part) != {"type", "text"}
        ):
            raise FieldError(f"{param}[{i}]", 'must be {"type": "text", "text": "..."}')


def _tool_calls(param: str, value: object) -> list[str]:
    if not isinstance(value, list) or not value:
        raise FieldError(param, "must be a non-empty list of tool calls")
    ids = []
    for i, call in enumerate(value):
        where = f"{param}[{i}]"
        if not isinstance(call, dict) or call.get("type") != "function":
            raise FieldError(where, 'must be {"id", "type": "function", "function"}')
        ids.append(string(f"{where}.id", call.get("id"), empty=False))
        function = call.get("function")
        if not isinstance(function, dict):
            raise FieldError(f"{where}.function", 'must be {"name", "arguments"}')
        _function_name(f"{where}.function.name", function.get("name"))
        string(f"{where}.function.arguments", function.get("arguments"))
    return ids


def _function_name(param: str, value: object) -> str:
    if not isinstance(value, str) or not _FUNCTION_NAME.fullmatch(value):
        raise FieldError(param, "must be 1 to 64 letters, digits, _ or -")
    return value


def messages(param: str, value: object, rules: MessageRules) -> None:
    """Roles, content and tool-call pairing of the conversation, as the engine takes them."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_MESSAGES:
        raise FieldError(param, f"must be a list of 1 to {MAX_MESSAGES} messages")
    open_calls: set[str] = set()  # ids of the last assistant message's calls not yet answered
    for i, message in enumerate(value):
        where = f"{param}[{i}]"
        if not isinstance(message, dict):
            raise FieldError(where, "must be an object with role and content")
        role = message.get("role")
        if role not in _KEYS or role not in rules.roles:
            roles = ", ".join(r for r in _KEYS if r in rules.roles)
            raise FieldError(f"{where}.role", f"must be one of {roles}")
        parts = role in rules.part_roles
        unknown = sorted(set(message) - _KEYS[role])
        if unknown:
            raise FieldError(f"{where}.{unknown[0]}", f"not a field of a {role} message")
        if "name" in message:
            string(f"{where}.name", message["name"], empty=False)
        if role == "tool":
            call_id = string(f"{where}.tool_call_id", message.get("tool_call_id"), empty=False)
            if call_id not in open_calls:
                raise FieldError(
                    f"{where}.tool_call_id",
                    f"{call_id!r:.80} answers no tool call of the preceding assistant message",
                )
            open_calls.discard(call_id)
            _content(f"{where}.content", message.get("content"), parts=parts)
            continue
        open_calls = set()
        if role == "assistant":
            calls = message.get("tool_calls")
            if calls is not None:
                open_calls = set(_tool_calls(f"{where}.tool_calls", calls))
            if message.get("refusal") is not None:
                string(f"{where}.refusal", message["refusal"])
            optional = calls is not None and rules.null_assistant_content
            _content(f"{where}.content", message.get("content"), parts=parts, optional=optional)
        else:
            _content(f"{where}.content", message.get("content"), parts=parts)


def tools(param: str, value: object) -> set[str]:
    """Function tools; returns their names."""
    if value is None:
        return set()
    if not isinstance(value, list) or len(value) > MAX_TOOLS:
        raise FieldError(param, f"must be a list of at most {MAX_TOOLS} function tools")
    names = set()
    for i, tool in enumerate(value):
        where = f"{param}[{i}]"
        if (
            not isinstance(tool, dict)
            or tool.get("type") != "function"
            or set(tool)
            != {
                "type",
                "function",
            }
        ):
            raise FieldError(where, 'must be {"type": "function", "function": {...}}')
        function = tool["function"]
        if not isinstance(function, dict) or not set(function) <= {
            "name",
            "description",
            "parameters",
            "strict",
        }:
            raise FieldError(f"{where}.function", "must hold name, description, parameters")
        names.add(_function_name(f"{where}.function.name", function.get("name")))
        if function.get("description") is not None:
            string(f"{where}.function.description", function["description"])
        if "parameters" in function:
            _schema(f"{where}.function.parameters", function["parameters"])
        if function.get("strict") is not None and not isinstance(function["strict"], bool):
            raise FieldError(f"{where}.function.strict", "must be true or false")
    return names


def tool_names(value: object) -> set[str]:
    """The function names of a ``tools`` value (its shape is checked by :func:`tools`)."""
    if not isinstance(value, list):
        return set()
    return {
        t["function"].get("name")
        for t in value
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    }


def _schema(param: str, value: object) -> None:
    if not isinstance(value, dict):
        raise FieldError(param, "must be a JSON Schema object")
    free_json(param, value)


def tool_choice(param: str, value: object, names: set[str], forced: bool) -> None:
    """``none``, ``auto``, ``required`` or one of the request's tools; forcing a call
    (``required`` or a named tool) only where the engine can constrain its output
    (``forced``: llama.cpp builds a grammar from the tool's schema)."""
    if value is None or value == "none":
        return
    if not names:
        raise FieldError(param, "only allowed when tools are given")
    if value == "auto":
        return
    if not forced:
        raise FieldError(
            param, "forcing a tool call is not enabled for this engine", "unsupported_parameter"
        )
    if value == "required":
        return
    if (
        not isinstance(value, dict)
        or value.get("type") != "function"
        or not isinstance(value.get("function"), dict)
    ):
        raise FieldError(param, 'must be none, auto, required or {"type": "function", ...}')
    name = value["function"].get("name")
    if name not in names:
        raise FieldError(f"{param}.function.name", f"{name!r:.80} is not one of the tools")


def response_format(param: str, value: object, json_schema: bool) -> None:
    """``text``, ``json_object``, or ``json_schema`` where the engine can enforce one."""
    if value is None:
        return
    kind = value.get("type") if isinstance(value, dict) else None
    if kind in ("text", "json_object") and isinstance(value, dict) and set(value) == {"type"}:
        return
    if kind != "json_schema" or not isinstance(value, dict):
        raise FieldError(param, "type must be text, json_object or json_schema")
    if not json_schema:
        raise FieldError(
            f"{param}.type", "json_schema is not enabled for this engine", "unsupported_parameter"
        )
    spec = value.get("json_schema")
    if not isinstance(spec, dict):
        raise FieldError(f"{param}.json_schema", 'must be {"name", "schema"}')
    _function_name(f"{param}.json_schema.name", spec.get("name"))
    _schema(f"{param}.json_schema.schema", spec.get("schema", {}))
