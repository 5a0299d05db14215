"""Checks for formats that cannot carry code: the GGUF magic, JSON files, text and other data."""

from __future__ import annotations

import json
from pathlib import Path

from llm_platform.security import rules
from llm_platform.security.report import Finding, Kind
from llm_platform.security.sniff import GGUF_MAGIC, looks_like_text


def check_gguf_magic(head: bytes, rel: str) -> list[Finding]:
    """A ``.gguf`` file must start with the GGUF magic (see ``security.gguf`` for the rest).

    Returns:
        A ``high`` error finding when the magic is missing, else nothing.
    """
    if head.startswith(GGUF_MAGIC):
        return []
    return [
        Finding(
            path=rel,
            rule=rules.GGUF_BAD_MAGIC,
            severity="high",
            message=f"GGUF magic missing: file starts with {head[:4]!r}, expected b'GGUF'",
            detail={"magic": head[:4].hex()},
        )
    ]


def check_json(path: Path, rel: str) -> list[Finding]:
    """A JSON file (tokenizer, config) must parse as UTF-8 JSON.

    Returns:
        A ``high`` error finding naming the position when it does not parse; else nothing.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            json.load(handle)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return [
            Finding(
                path=rel,
                rule=rules.JSON_INVALID,
                severity="high",
                message=f"not valid JSON: {exc}",
                detail={"error": str(exc)},
            )
        ]
    return []


def describe_other(head: bytes, rel: str, size: int) -> tuple[Kind, list[Finding]]:
    """Classify a file of no serialization format as text or other, with an info finding."""
    text = size > 0 and looks_like_text(head, whole_file=size <= len(head))
    kind: Kind = "text" if text else "other"
    message = "empty file" if size == 0 else f"{kind} file, no executable serialization format"
    return kind, [
        Finding(path=rel, rule=rules.FILE_INFO, severity="info", message=message, detail={})
    ]
