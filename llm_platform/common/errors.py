"""Exceptions shared across the domain core, and the CLI exit codes they map to."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_INCONCLUSIVE = 3


class PlatformError(Exception):
    """Base class for errors the user can act on; the message says what and where."""


class ConfigurationError(PlatformError):
    """Settings of the platform itself are wrong or missing (CLI exit code 2)."""
