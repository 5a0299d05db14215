"""Checks for formats that cannot carry code: GGUF headers, JSON files, text and other data."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from llm_platform.security import rules
from llm_platform.security.report import Finding, Kind
from llm_platform.security.sniff import GGUF_MAGIC, looks_like_text


def check_gguf(head: bytes, rel: str) -> list[Finding]:
    """Check the GGUF magic and report the header fields.

    Args:
        head: The first bytes of the file.
        rel: Its path relative to the scan root.

    Returns:
        A ``high`` error finding when the magic is missing, else one info finding.
    """
    if not head.startswith(GGUF_MAGIC):
        return [
            Finding(
                path=rel,
                rule=rules.GGUF_BAD_MAGIC,
                severity="high",
                message=f"GGUF magic missing: file starts with {head[:4]!r}, expected b'GGUF'",
                detail={"magic": head[:4].hex()},
            )
        ]
    detail: dict[str, int] = {}
    if len(head) >= 24:
        version, tensors, kv = struct.unpack("<IQQ", head[4:24])
        detail = {"version": version, "tensor_count": tensors, "metadata_kv_count": kv}
    return [
        Finding(
            path=rel,
            rule=rules.GGUF_HEADER,
            severity="info",
            message="GGUF " + ", ".join(f"{k}={v}" for k, v in detail.items()),
            detail=detail,
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
