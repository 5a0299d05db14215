"""Write small real GGUF files (v3, little-endian) for the scanner and engine tests."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

F32 = 0
Q8_0 = 8  # 32 elements per 34-byte block


def _string(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return struct.pack("<Q", len(raw)) + raw


def _kv(key: str, value: Any) -> bytes:
    if isinstance(value, bool):
        return _string(key) + struct.pack("<I?", 7, value)
    if isinstance(value, int):
        return _string(key) + struct.pack("<II", 4, value)
    if isinstance(value, float):
        return _string(key) + struct.pack("<If", 6, value)
    if isinstance(value, str | bytes):
        return _string(key) + struct.pack("<I", 8) + _string(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = b"".join(_string(v) for v in value)
        return _string(key) + struct.pack("<IIQ", 9, 8, len(value)) + items
    if isinstance(value, list):
        return (
            _string(key)
            + struct.pack("<IIQ", 9, 6, len(value))
            + struct.pack(f"<{len(value)}f", *value)
        )
    raise TypeError(value)


def gguf_bytes(
    metadata: dict[str, Any] | None = None,
    tensors: list[tuple[str, list[int], int]] | None = None,
    *,
    version: int = 3,
    tensor_count: int | None = None,
    kv_count: int | None = None,
    alignment: int = 32,
) -> bytes:
    """A complete GGUF file: header, metadata, tensor infos, aligned zero-filled tensor data.

    Args:
        metadata: key -> value (int = u32, float = f32, str, list of str or floats).
        tensors: (name, dims, ggml type F32 or Q8_0) in data order.
        tensor_count: Override the header's tensor count (to forge absurd headers).
        kv_count: Override the header's metadata count.
    """
    metadata = {"general.architecture": "test", **(metadata or {})}
    tensors = tensors if tensors is not None else [("w", [32, 2], F32)]
    body = b"".join(_kv(k, v) for k, v in metadata.items())
    infos = b""
    offset = 0
    for name, dims, ttype in tensors:
        elements = 1
        for d in dims:
            elements *= d
        nbytes = elements * 4 if ttype == F32 else elements // 32 * 34
        infos += _string(name) + struct.pack(f"<I{len(dims)}QIQ", len(dims), *dims, ttype, offset)
        offset += -(-nbytes // alignment) * alignment
    header = b"GGUF" + struct.pack(
        "<IQQ",
        version,
        len(tensors) if tensor_count is None else tensor_count,
        len(metadata) if kv_count is None else kv_count,
    )
    head = header + body + infos
    padding = -len(head) % alignment
    return head + bytes(padding) + bytes(offset)


def write_gguf(path: Path, **kwargs: Any) -> Path:
    """Write :func:`gguf_bytes` to ``path`` (parents created); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gguf_bytes(**kwargs))
    return path
