"""Validate a GGUF file's header, metadata and tensor table without loading its tensor data.

Layout (little-endian, GGUF v2/v3): magic ``GGUF``, u32 version, u64 tensor count, u64
metadata count; the metadata key/value pairs; one info record per tensor (name, dims, ggml
type, offset); then, aligned to ``general.alignment`` (32 by default), the tensor data.

The reader streams through the file with a bounded buffer: counts and lengths are checked
against hard limits and against the bytes left in the file before anything is read or
allocated, so an absurd count fails in microseconds instead of exhausting memory. The chat
template (``tokenizer.chat_template``, a Jinja program the server runs on every chat request)
is size-limited and reported with its sha256.
"""

from __future__ import annotations

import hashlib
import io
import struct
from pathlib import Path
from typing import Any, BinaryIO

from llm_platform.security import rules
from llm_platform.security.report import Finding
from llm_platform.security.sniff import GGUF_MAGIC

SUPPORTED_VERSIONS = (2, 3)
MAX_TENSORS = 1_000_000
MAX_METADATA = 65_536
MAX_KEY_BYTES = 1024
MAX_STRING_BYTES = 16 * 1024 * 1024
MAX_ARRAY_LENGTH = 16 * 1024 * 1024
MAX_CHAT_TEMPLATE_BYTES = 64 * 1024
# ggml's GGML_MAX_NAME (64) includes the terminating NUL; GGML_MAX_DIMS is 4.
MAX_TENSOR_NAME_BYTES = 63
MAX_DIMS = 4
DEFAULT_ALIGNMENT = 32
CHAT_TEMPLATE_KEY = "tokenizer.chat_template"
_BUFFER = 1024 * 1024

_STRING, _ARRAY = 8, 9
# Metadata value types: struct format of the fixed-size ones (8 = string, 9 = array).
_SCALARS: dict[int, str] = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
# ggml tensor types: (name, elements per block, bytes per block), as gguf-py's GGML_QUANT_SIZES
# (llama.cpp vendored by llama-cpp-python 0.3.36).
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
    40: ("NVFP4", 64, 36),
    41: ("Q1_0", 128, 18),
    42: ("Q2_0", 64, 18),
}
# The smallest possible metadata pair (u64 key length, 1-byte key, u32 type, 1-byte value) and
# tensor record (u64 name length, 1-byte name, u32 dims, one u64 dim, u32 type, u64 offset).
_MIN_KV_BYTES = 8 + 1 + 4 + 1
_MIN_TENSOR_BYTES = 8 + 1 + 4 + 8 + 4 + 8


class GgufError(ValueError):
    """The file is not a valid GGUF file; the message says what and at which offset."""


class _Reader:
    """Bounds-checked sequential reads over a file that is never read whole."""

    def __init__(self, handle: BinaryIO, size: int) -> None:
        self.handle = handle
        self.size = size
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if n > self.size - self.pos:
            raise GgufError(
                f"truncated: {what} needs {n} bytes at offset {self.pos}, "
                f"only {self.size - self.pos} left"
            )
        data = self.handle.read(n)
        self.pos += n
        return data

    def skip(self, n: int, what: str) -> None:
        if n > self.size - self.pos:
            raise GgufError(
                f"truncated: {what} needs {n} bytes at offset {self.pos}, "
                f"only {self.size - self.pos} left"
            )
        self.handle.seek(n, io.SEEK_CUR)
        self.pos += n

    def unpack(self, fmt: str, what: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]

    def length(self, what: str, limit: int) -> int:
        n: int = self.unpack("<Q", f"{what} length")
        if n > limit:
            raise GgufError(f"{what} at offset {self.pos - 8} is {n} bytes, limit {limit}")
        return n

    def text(self, what: str, limit: int) -> str:
        raw = self.take(self.length(what, limit), what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise GgufError(f"{what} at offset {self.pos - len(raw)} is not UTF-8: {exc}") from exc


class GgufSummary:
    """What the parse found: header counts, short metadata values and chat templates
    (``{key: {bytes, sha256, text}}``; ``{bytes, too_large}`` over the size limit)."""

    def __init__(self, version: int, tensor_count: int, metadata_count: int) -> None:
        self.version = version
        self.tensor_count = tensor_count
        self.metadata_count = metadata_count
        self.metadata: dict[str, Any] = {}
        self.chat_templates: dict[str, dict[str, Any]] = {}
        self.alignment = DEFAULT_ALIGNMENT
        self.data_bytes = 0


def _value(r: _Reader, key: str, vtype: int, summary: GgufSummary) -> Any:
    if vtype in _SCALARS:
        return r.unpack(_SCALARS[vtype], f"value of {key!r}")
    if vtype == _STRING:
        if key == CHAT_TEMPLATE_KEY or key.startswith(CHAT_TEMPLATE_KEY + "."):
            n = r.length(f"value of {key!r}", MAX_STRING_BYTES)
            if n > MAX_CHAT_TEMPLATE_BYTES:
                summary.chat_templates[key] = {"bytes": n, "too_large": True}
                r.skip(n, f"value of {key!r}")
                return None
            raw = r.take(n, f"value of {key!r}")
            summary.chat_templates[key] = {
                "bytes": n,
                "sha256": hashlib.sha256(raw).hexdigest(),
                "text": raw.decode("utf-8", errors="replace"),
            }
            return None
        return r.text(f"value of {key!r}", MAX_STRING_BYTES)
    if vtype == _ARRAY:
        _array(r, key)
        return None
    raise GgufError(f"metadata {key!r} has unknown value type {vtype}")


def _array(r: _Reader, key: str) -> None:
    etype: int = r.unpack("<I", f"element type of {key!r}")
    count: int = r.unpack("<Q", f"length of {key!r}")
    if count > MAX_ARRAY_LENGTH:
        raise GgufError(f"array {key!r} has {count} elements, limit {MAX_ARRAY_LENGTH}")
    if etype in _SCALARS:
        r.skip(count * struct.calcsize(_SCALARS[etype]), f"array {key!r}")
    elif etype == _STRING:
        if count * 8 > r.size - r.pos:
            raise GgufError(f"array {key!r} claims {count} strings, more than the file holds")
        for _ in range(count):
            r.skip(r.length(f"element of {key!r}", MAX_STRING_BYTES), f"element of {key!r}")
    elif etype == _ARRAY:
        raise GgufError(f"array {key!r} holds arrays; llama.cpp does not load nested arrays")
    else:
        raise GgufError(f"array {key!r} has unknown element type {etype}")


def _tensor(r: _Reader, seen: set[str], alignment: int) -> tuple[str, int, int]:
    name = r.text("tensor name", MAX_TENSOR_NAME_BYTES)
    if name in seen:
        raise GgufError(f"duplicate tensor name {name!r}")
    seen.add(name)
    n_dims: int = r.unpack("<I", f"dimension count of {name!r}")
    if not 1 <= n_dims <= MAX_DIMS:
        raise GgufError(f"tensor {name!r} has {n_dims} dimensions, expected 1..{MAX_DIMS}")
    dims = [r.unpack("<Q", f"dimension of {name!r}") for _ in range(n_dims)]
    ttype: int = r.unpack("<I", f"type of {name!r}")
    offset: int = r.unpack("<Q", f"offset of {name!r}")
    if ttype not in GGML_TYPES:
        raise GgufError(f"tensor {name!r} has unknown ggml type {ttype}")
    type_name, block, type_size = GGML_TYPES[ttype]
    elements = 1
    for d in dims:
        elements *= d
    if elements == 0 or elements >= 2**63:
        raise GgufError(f"tensor {name!r} has shape {dims}")
    if dims[0] % block:
        raise GgufError(
            f"tensor {name!r}: first dimension {dims[0]} is not a multiple of the "
            f"{type_name} block size {block}"
        )
    if offset % alignment:
        raise GgufError(f"tensor {name!r}: offset {offset} is not aligned to {alignment}")
    return name, offset, elements // block * type_size


def parse_gguf(path: Path) -> GgufSummary:
    """Parse and check ``path`` (metadata and tensor table; tensor data is never read).

    Raises:
        GgufError: the first problem found, with its offset.
        OSError: the file cannot be read.
    """
    size = path.stat().st_size
    with open(path, "rb", buffering=_BUFFER) as handle:
        r = _Reader(handle, size)
        if r.take(len(GGUF_MAGIC), "magic") != GGUF_MAGIC:
            raise GgufError("GGUF magic missing")
        version: int = r.unpack("<I", "version")
        if version not in SUPPORTED_VERSIONS:
            raise GgufError(
                f"unsupported GGUF version {version} (supported: 2, 3; "
                "a big-endian file reads as a huge version)"
            )
        tensors: int = r.unpack("<Q", "tensor count")
        kvs: int = r.unpack("<Q", "metadata count")
        if tensors > MAX_TENSORS or kvs > MAX_METADATA:
            raise GgufError(
                f"absurd counts: {tensors} tensors (limit {MAX_TENSORS}), "
                f"{kvs} metadata pairs (limit {MAX_METADATA})"
            )
        if tensors * _MIN_TENSOR_BYTES + kvs * _MIN_KV_BYTES > size - r.pos:
            raise GgufError(
                f"{tensors} tensors and {kvs} metadata pairs cannot fit in {size} bytes"
            )
        summary = GgufSummary(version, tensors, kvs)
        keys: set[str] = set()
        for _ in range(kvs):
            key = r.text("metadata key", MAX_KEY_BYTES)
            if key in keys:
                raise GgufError(f"duplicate metadata key {key!r}")
            keys.add(key)
            value = _value(r, key, r.unpack("<I", f"type of {key!r}"), summary)
            if value is not None:
                summary.metadata[key] = value[:200] if isinstance(value, str) else value
        alignment = summary.metadata.get("general.alignment", DEFAULT_ALIGNMENT)
        if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
            raise GgufError(f"general.alignment {alignment!r} is not a power of two")
        summary.alignment = alignment
        seen: set[str] = set()
        spans = sorted(_tensor(r, seen, alignment)[1:] for _ in range(tensors))
        data_start = -(-r.pos // alignment) * alignment
        data_size = size - data_start
        if data_size < 0:
            raise GgufError(f"truncated: tensor data would start at {data_start}, past the end")
        end = 0
        for offset, nbytes in spans:
            if offset < end:
                raise GgufError(f"tensor data overlaps at data offset {offset}")
            end = offset + nbytes
            if end > data_size:
                raise GgufError(
                    f"truncated: tensor data at {offset}+{nbytes} runs past the end "
                    f"of the {data_size}-byte data section"
                )
        summary.data_bytes = data_size
    return summary


def chat_template(path: Path) -> str | None:
    """The text of ``tokenizer.chat_template`` in the GGUF ``path`` (None when it has none).

    Raises:
        GgufError: the file is not a valid GGUF, or its template is over the size limit.
        OSError: the file cannot be read.
    """
    info = parse_gguf(path).chat_templates.get(CHAT_TEMPLATE_KEY)
    if info is None:
        return None
    if info.get("too_large"):
        raise GgufError(
            f"{CHAT_TEMPLATE_KEY} is {info['bytes']} bytes, limit {MAX_CHAT_TEMPLATE_BYTES}"
        )
    return str(info["text"])


def check_gguf_file(path: Path, rel: str) -> list[Finding]:
    """Scan one GGUF file: an info finding with its header, one per chat template, or errors."""
    try:
        summary = parse_gguf(path)
    except GgufError as exc:
        return [
            Finding(
                path=rel,
                rule=rules.GGUF_INVALID,
                severity="high",
                message=f"invalid GGUF: {exc}",
                detail={"error": str(exc)},
            )
        ]
    keep = ("general.architecture", "general.name", "general.alignment")
    header = {
        "version": summary.version,
        "tensor_count": summary.tensor_count,
        "metadata_kv_count": summary.metadata_count,
        "data_bytes": summary.data_bytes,
        **{k: summary.metadata[k] for k in keep if k in summary.metadata},
    }
    findings = [
        Finding(
            path=rel,
            rule=rules.GGUF_HEADER,
            severity="info",
            message="GGUF " + ", ".join(f"{k}={v}" for k, v in header.items()),
            detail=header,
        )
    ]
    for key, info in summary.chat_templates.items():
        if info.get("too_large"):
            findings.append(
                Finding(
                    path=rel,
                    rule=rules.GGUF_CHAT_TEMPLATE_TOO_LARGE,
                    severity="high",
                    message=f"{key} is {info['bytes']} bytes, limit {MAX_CHAT_TEMPLATE_BYTES}",
                    detail={"key": key, "bytes": info["bytes"], "limit": MAX_CHAT_TEMPLATE_BYTES},
                )
            )
        else:
            findings.append(
                Finding(
                    path=rel,
                    rule=rules.GGUF_CHAT_TEMPLATE,
                    severity="info",
                    message=f"{key}: {info['bytes']} bytes, sha256 {info['sha256']}",
                    detail={"key": key, **info},
                )
            )
    return findings
