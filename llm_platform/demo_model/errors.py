"""Errors raised by the demo model."""

from __future__ import annotations

from llm_platform.common.errors import PlatformError


class ModelLoadError(PlatformError):
    """A model directory is missing a file, or a file is corrupt or inconsistent.

    The message starts with the path of the offending file.
    """
