"""Connection and request limits of the platform's HTTP servers (gateway and model server).

One set of defaults, one set of command-line flags: every server built on
:mod:`llm_platform.serving.httpserver` takes a :class:`ServerLimits`. The defaults keep a slow or
huge client from holding resources that others need: a request must deliver its headers within
``header_timeout_s`` and its body within ``body_timeout_s``; an idle keep-alive connection is
closed after ``idle_timeout_s``; bodies over ``max_body_bytes`` get 413 before they are read;
connections beyond ``max_connections`` get 503 and are closed at once.
"""

from __future__ import annotations

import argparse

from pydantic import BaseModel, ConfigDict, Field

# 1 MiB holds a prompt far beyond any context window the platform serves (a 32k-token prompt is
# ~128 KiB of text) while a 50 MB body is refused before it is read.
DEFAULT_MAX_BODY_BYTES = 1 << 20
DEFAULT_MAX_HEADER_BYTES = 64 << 10
DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_BODY_TIMEOUT_S = 30.0
DEFAULT_IDLE_TIMEOUT_S = 75.0
DEFAULT_MAX_CONNECTIONS = 1024


class ServerLimits(BaseModel):
    """Limits one HTTP server enforces on its clients (all positive)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, gt=0)
    max_header_bytes: int = Field(default=DEFAULT_MAX_HEADER_BYTES, gt=0)
    header_timeout_s: float = Field(default=DEFAULT_HEADER_TIMEOUT_S, gt=0)
    body_timeout_s: float = Field(default=DEFAULT_BODY_TIMEOUT_S, gt=0)
    idle_timeout_s: float = Field(default=DEFAULT_IDLE_TIMEOUT_S, gt=0)
    max_connections: int = Field(default=DEFAULT_MAX_CONNECTIONS, gt=0)


_FLAGS: tuple[tuple[str, str, type, str], ...] = (
    ("max_body_bytes", "--max-body-bytes", int, "larger request bodies get 413"),
    ("max_header_bytes", "--max-header-bytes", int, "larger request heads get 431"),
    ("header_timeout_s", "--header-timeout", float, "seconds to send a request's headers"),
    ("body_timeout_s", "--body-timeout", float, "seconds to send a request's body"),
    ("idle_timeout_s", "--idle-timeout", float, "seconds an idle keep-alive connection lives"),
    ("max_connections", "--max-connections", int, "open connections beyond this get 503"),
)


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per :class:`ServerLimits` field, defaulting to the field's default."""
    defaults = ServerLimits()
    for field, flag, kind, text in _FLAGS:
        default = getattr(defaults, field)
        parser.add_argument(
            flag, dest=field, type=kind, default=default, help=f"{text} ({default})"
        )


def limits_from_arguments(args: argparse.Namespace) -> ServerLimits:
    """The limits parsed by :func:`add_limit_arguments`.

    Raises:
        pydantic.ValidationError: a value is not positive (the message names the field).
    """
    return ServerLimits(**{field: getattr(args, field) for field, *_ in _FLAGS})
