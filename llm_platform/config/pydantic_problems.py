"""Turn pydantic validation errors into :class:`Problem`s with lines and plain messages."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError

from llm_platform.config.problems import Problem, field_path


def validation_problems(
    exc: ValidationError, model: type[BaseModel], lines: dict[tuple[str, ...], int], source: str
) -> list[Problem]:
    """One problem per pydantic error, located with ``lines`` (see ``yaml_loader.key_lines``)."""
    return [_problem(error, model, lines, source) for error in exc.errors(include_url=False)]


def sort_problems(problems: list[Problem]) -> list[Problem]:
    """Problems in file order (those without a line first)."""
    return sorted(problems, key=lambda p: (p.line if p.line is not None else 0, p.field or ""))


def _problem(
    error: Any, model: type[BaseModel], lines: dict[tuple[str, ...], int], source: str
) -> Problem:
    loc: tuple[Any, ...] = tuple(error["loc"])
    kind = error["type"]
    message = error["msg"]
    if kind == "memory_per_gpu":
        loc = (*loc, "memory_gb")
    elif kind == "replica_bounds":
        loc = (*loc, "min_replicas")
    elif kind == "protocol_not_served":
        loc = (*loc, "protocol")
    if kind == "extra_forbidden":
        message = "unknown key" + _suggestion(model, loc)
    elif kind == "missing":
        message = "required key is missing"
    elif kind == "value_error" and message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    elif "input" in error and kind.endswith("_type"):
        message = f"{message} (got {_type_name(error['input'])})"
    return Problem(path=source, line=_line_for(loc, lines), field=field_path(loc), message=message)


def _line_for(loc: tuple[Any, ...], lines: dict[tuple[str, ...], int]) -> int | None:
    path = tuple(str(part) for part in loc)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return f"{type(value).__name__} {value!r}"


def _suggestion(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """Name the closest allowed key, walking the model classes along ``loc``."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):  # a list index: the item's model is the list's
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return ""
        current = _model_of(field.annotation)
        if current is None:
            return ""
    allowed = list(getattr(current, "model_fields", {}))
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1) if loc else []
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (allowed: {', '.join(allowed)})" if allowed else ""


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None
