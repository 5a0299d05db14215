"""Problems found in configuration files, and the error that carries them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from llm_platform.common.errors import PlatformError


class Problem(BaseModel):
    """One thing wrong with one configuration file.

    Attributes:
        path: The file (or directory) the problem is in, as shown to the user.
        line: 1-based line in that file, when known.
        field: Dotted path of the offending key (``resources.memory_gb``, ``approvers[1]``),
            when the problem is about one key.
        message: What is wrong, in plain words.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    line: int | None = None
    field: str | None = None
    message: str

    def __str__(self) -> str:
        location = self.path if self.line is None else f"{self.path}:{self.line}"
        if self.field:
            return f"{location}: {self.field}: {self.message}"
        return f"{location}: {self.message}"


class ConfigError(PlatformError):
    """A configuration file is invalid; ``problems`` lists everything wrong with it."""

    def __init__(self, problems: list[Problem]) -> None:
        if not problems:
            raise ValueError("ConfigError needs at least one problem")
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


def field_path(loc: tuple[object, ...]) -> str | None:
    """Render a location tuple (``("approvers", 1)``) as ``approvers[1]``; None when empty."""
    text = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or None
