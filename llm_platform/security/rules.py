"""The catalogue of scan rules: stable identifiers, default severities and descriptions.

Each finding names one of these rules; the SARIF output lists them as the tool's rules.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

Severity = Literal["critical", "high", "medium", "info"]

SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "info")
# Findings at these severities make a file unsafe; "medium" and "info" are reported only.
BLOCKING_SEVERITIES: frozenset[str] = frozenset({"critical", "high"})


class Rule(BaseModel):
    """One kind of finding the scanner can report."""

    id: str
    name: str
    severity: Severity
    description: str


PICKLE_DANGEROUS_GLOBAL = "pickle-dangerous-global"
PICKLE_UNKNOWN_GLOBAL = "pickle-unknown-global"
PICKLE_CONTENT = "pickle-content"
PICKLE_PARSE_ERROR = "pickle-parse-error"
ARCHIVE_ERROR = "archive-error"
EXTENSION_MISMATCH = "extension-mismatch"
SAFETENSORS_INVALID = "safetensors-invalid"
GGUF_BAD_MAGIC = "gguf-bad-magic"
GGUF_HEADER = "gguf-header"
GGUF_INVALID = "gguf-invalid"
GGUF_CHAT_TEMPLATE = "gguf-chat-template"
GGUF_CHAT_TEMPLATE_TOO_LARGE = "gguf-chat-template-too-large"
JSON_INVALID = "json-invalid"
FILE_INFO = "file-info"
SYMLINK = "symlink"
UNREADABLE = "unreadable-file"
SCANNER_ERROR = "scanner-error"

# Findings of these rules mean "could not be scanned": the file's status is ``error``, not
# ``unsafe`` (both fail the scan).
ERROR_RULES: frozenset[str] = frozenset(
    {
        PICKLE_PARSE_ERROR,
        ARCHIVE_ERROR,
        GGUF_BAD_MAGIC,
        JSON_INVALID,
        SYMLINK,
        UNREADABLE,
        SCANNER_ERROR,
    }
)

RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        Rule(
            id=PICKLE_DANGEROUS_GLOBAL,
            name="DangerousPickleGlobal",
            severity="critical",
            description="A pickle imports a callable that can run code, touch files or the "
            "network when the pickle is loaded (e.g. os.system, builtins.eval).",
        ),
        Rule(
            id=PICKLE_UNKNOWN_GLOBAL,
            name="UnknownPickleGlobal",
            severity="medium",
            description="A pickle imports a global that is neither known safe nor known "
            "dangerous; loading it runs that object's constructor (high in strict mode).",
        ),
        Rule(
            id=PICKLE_CONTENT,
            name="PickleContent",
            severity="info",
            description="The file holds pickle data; prefer safetensors, which cannot run code.",
        ),
        Rule(
            id=PICKLE_PARSE_ERROR,
            name="PickleParseError",
            severity="high",
            description="Pickle data could not be disassembled, so it cannot be proven safe.",
        ),
        Rule(
            id=ARCHIVE_ERROR,
            name="ArchiveError",
            severity="high",
            description="A zip archive (e.g. a PyTorch checkpoint) or one of its members "
            "could not be read, so it cannot be proven safe.",
        ),
        Rule(
            id=EXTENSION_MISMATCH,
            name="ExtensionMismatch",
            severity="high",
            description="The content does not match the file extension (e.g. pickle data in "
            "a .safetensors file), a common way to smuggle a payload past loaders.",
        ),
        Rule(
            id=SAFETENSORS_INVALID,
            name="InvalidSafetensors",
            severity="high",
            description="The safetensors header is malformed or inconsistent with the file "
            "(lengths, dtypes, shapes, offsets, metadata).",
        ),
        Rule(
            id=GGUF_BAD_MAGIC,
            name="GgufBadMagic",
            severity="high",
            description="A .gguf file does not start with the GGUF magic bytes.",
        ),
        Rule(
            id=GGUF_HEADER,
            name="GgufHeader",
            severity="info",
            description="GGUF header fields (version, tensor and metadata counts).",
        ),
        Rule(
            id=GGUF_INVALID,
            name="InvalidGguf",
            severity="high",
            description="The GGUF header, metadata or tensor table is malformed, truncated, "
            "inconsistent with the file, or claims absurd counts or sizes.",
        ),
        Rule(
            id=GGUF_CHAT_TEMPLATE,
            name="GgufChatTemplate",
            severity="info",
            description="A GGUF chat template (a Jinja program the server runs on every chat "
            "request): its size and sha256.",
        ),
        Rule(
            id=GGUF_CHAT_TEMPLATE_TOO_LARGE,
            name="GgufChatTemplateTooLarge",
            severity="high",
            description="A GGUF chat template is larger than the limit (64 KiB).",
        ),
        Rule(
            id=JSON_INVALID,
            name="InvalidJson",
            severity="high",
            description="A .json file (tokenizer, config) does not parse.",
        ),
        Rule(
            id=FILE_INFO,
            name="FileInfo",
            severity="info",
            description="A file that holds no executable serialization format.",
        ),
        Rule(
            id=SYMLINK,
            name="Symlink",
            severity="high",
            description="A symbolic link that escapes the scanned root or dangles; its target "
            "is not scanned (links inside the root are reported as info).",
        ),
        Rule(
            id=UNREADABLE,
            name="UnreadableFile",
            severity="high",
            description="A file could not be read or is not a regular file (FIFO, device).",
        ),
        Rule(
            id=SCANNER_ERROR,
            name="ScannerError",
            severity="high",
            description="The scanner itself failed on a file; the file is not proven safe.",
        ),
    )
}
