"""Validate a safetensors file from its header alone (tensor data is never read).

Layout: an 8-byte little-endian header length N, N bytes of JSON, then the data section. The
checks mirror the reference implementation's validation (and a few it leaves to callers):
bounds, JSON object, known dtypes, shapes, offsets inside the data section whose size matches
the shape, no overlaps and no unreferenced bytes, and ``__metadata__`` mapping str to str.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

from llm_platform.security import rules
from llm_platform.security.report import Finding
from llm_platform.security.sniff import SAFETENSORS_MAX_HEADER

# Bits per element of every dtype the safetensors format defines.
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}
_TENSOR_KEYS = frozenset({"dtype", "shape", "data_offsets"})
# Report at most this many violations per file; one is enough to fail it.
MAX_VIOLATIONS = 20


class _DuplicateKeyError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_tensor(name: str, info: Any, data_len: int) -> tuple[list[str], tuple[int, int] | None]:
    """Check one tensor entry; returns its problems and its (begin, end) when usable."""
    if not isinstance(info, dict):
        return [f"tensor {name!r}: entry is {type(info).__name__}, expected an object"], None
    problems = []
    unknown = sorted(set(info) - _TENSOR_KEYS)
    missing = sorted(_TENSOR_KEYS - set(info))
    if unknown:
        problems.append(f"tensor {name!r}: unknown field(s) {unknown}")
    if missing:
        return [*problems, f"tensor {name!r}: missing field(s) {missing}"], None
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    bits = DTYPE_BITS.get(dtype) if isinstance(dtype, str) else None
    if bits is None:
        problems.append(f"tensor {name!r}: unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        problems.append(f"tensor {name!r}: shape {shape!r} is not a list of non-negative ints")
        shape = None
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_int(o) for o in offsets):
        return [*problems, f"tensor {name!r}: data_offsets {offsets!r} is not [begin, end]"], None
    begin, end = offsets
    if not 0 <= begin <= end:
        return [*problems, f"tensor {name!r}: data_offsets [{begin}, {end}] are not ordered"], None
    if end > data_len:
        problems.append(
            f"tensor {name!r}: data_offsets [{begin}, {end}] end past the data section "
            f"({data_len} bytes)"
        )
    if bits is not None and shape is not None:
        total_bits = math.prod(shape) * bits
        if total_bits % 8:
            problems.append(f"tensor {name!r}: {total_bits} bits of {dtype} is not whole bytes")
        elif end - begin != total_bits // 8:
            problems.append(
                f"tensor {name!r}: data_offsets span {end - begin} bytes but shape {shape} of "
                f"{dtype} needs {total_bits // 8}"
            )
    return problems, (begin, end)


def _check_layout(spans: list[tuple[int, int, str]], data_len: int) -> list[str]:
    """Tensors must tile the data section exactly: no overlaps, gaps or trailing bytes."""
    problems = []
    cursor = 0
    previous = None
    for begin, end, name in sorted(spans):
        if begin < cursor:
            problems.append(
                f"tensor {name!r}: data_offsets [{begin}, {end}] overlap tensor {previous!r}"
            )
        elif begin > cursor:
            problems.append(f"{begin - cursor} unreferenced bytes before tensor {name!r}")
        if end > cursor:
            cursor, previous = end, name
    if cursor < data_len:
        problems.append(f"{data_len - cursor} unreferenced bytes after the last tensor")
    return problems


def _header_problems(path: Path, size: int) -> list[str]:
    if size < 8:
        return [f"file is {size} bytes, too small for the 8-byte header length"]
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        if length == 0:
            return ["header length is 0"]
        if length > size - 8:
            return [f"header length {length} exceeds the file size ({size} bytes)"]
        if length > SAFETENSORS_MAX_HEADER:
            return [f"header length {length} exceeds the {SAFETENSORS_MAX_HEADER}-byte limit"]
        raw = handle.read(length)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return [f"header is not valid JSON: {exc}"]
    if not isinstance(header, dict):
        return [f"header is a JSON {type(header).__name__}, expected an object"]
    problems = []
    metadata = header.pop("__metadata__", None)
    if metadata is not None and not (
        isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())
    ):
        problems.append("__metadata__ must map strings to strings")
    data_len = size - 8 - length
    spans = []
    for name, info in header.items():
        tensor_problems, span = _check_tensor(name, info, data_len)
        problems.extend(tensor_problems)
        if span is not None:
            spans.append((*span, name))
    problems.extend(_check_layout(spans, data_len))
    return problems


def check_safetensors(path: Path, rel: str, size: int) -> list[Finding]:
    """Validate a safetensors file's header against the file.

    Args:
        path: The file on disk (only the header is read).
        rel: Its path relative to the scan root.
        size: Its size in bytes.

    Returns:
        One ``high`` finding per violation (the file is then unsafe); empty when valid.
    """
    problems = _header_problems(path, size)
    findings = [
        Finding(
            path=rel,
            rule=rules.SAFETENSORS_INVALID,
            severity="high",
            message=f"invalid safetensors: {problem}",
            detail={"problem": problem},
        )
        for problem in problems[:MAX_VIOLATIONS]
    ]
    if len(problems) > MAX_VIOLATIONS:
        findings.append(
            Finding(
                path=rel,
                rule=rules.SAFETENSORS_INVALID,
                severity="high",
                message=f"invalid safetensors: {len(problems) - MAX_VIOLATIONS} more violations",
                detail={"omitted": len(problems) - MAX_VIOLATIONS},
            )
        )
    return findings
