"""Safetensors header validation: every violation makes the file unsafe with a precise message."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llm_platform.security import safetensors_check, scan_path
from llm_platform.security.safetensors_check import check_safetensors
from tests.helpers.security_fixtures import safetensors_bytes, write_clean_model

F32_2x2 = {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}


def _scan(tmp_path: Path, data: bytes, name: str = "model.safetensors") -> list[str]:
    target = tmp_path / name
    target.write_bytes(data)
    report = scan_path(target)
    (result,) = report.files
    assert result.kind == "safetensors"
    assert result.status == ("clean" if not result.findings else "unsafe")
    assert report.safe is (result.status == "clean")
    return [finding.message for finding in result.findings]


CASES: list[tuple[str, bytes, str]] = [
    ("too small", b"\x01\x00", "too small for the 8-byte header length"),
    ("zero length", struct.pack("<Q", 0) + b"{}", "header length is 0"),
    (
        "length beyond file",
        safetensors_bytes({"w": F32_2x2}, bytes(16), length=10_000),
        "header length 10000 exceeds the file size",
    ),
    ("bad json", safetensors_bytes(b'{"w": {"dtype": "F32",', b""), "header is not valid JSON"),
    ("not utf-8", safetensors_bytes(b'{"\xff": 1}', b""), "header is not valid JSON"),
    ("json list", safetensors_bytes([1, 2], b""), "header is a JSON list, expected an object"),
    (
        "unknown dtype",
        safetensors_bytes({"w": {**F32_2x2, "dtype": "F128"}}, bytes(16)),
        "tensor 'w': unknown dtype 'F128'",
    ),
    (
        "negative dimension",
        safetensors_bytes({"w": {**F32_2x2, "shape": [2, -2]}}, bytes(16)),
        "shape [2, -2] is not a list of non-negative ints",
    ),
    (
        "boolean dimension",
        safetensors_bytes({"w": {**F32_2x2, "shape": [True, 4]}}, bytes(16)),
        "is not a list of non-negative ints",
    ),
    (
        "offsets past end",
        safetensors_bytes({"w": {**F32_2x2, "data_offsets": [8, 24]}}, bytes(16)),
        "data_offsets [8, 24] end past the data section (16 bytes)",
    ),
    (
        "offsets overlap",
        safetensors_bytes(
            {"a": F32_2x2, "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}},
            bytes(16),
        ),
        "tensor 'b': data_offsets [8, 16] overlap tensor 'a'",
    ),
    (
        "offsets reversed",
        safetensors_bytes({"w": {**F32_2x2, "data_offsets": [16, 0]}}, bytes(16)),
        "data_offsets [16, 0] are not ordered",
    ),
    (
        "size mismatch",
        safetensors_bytes({"w": {**F32_2x2, "shape": [2, 3]}}, bytes(16)),
        "span 16 bytes but shape [2, 3] of F32 needs 24",
    ),
    (
        "hidden trailing bytes",
        safetensors_bytes({"w": F32_2x2}, bytes(16) + b"payload"),
        "7 unreferenced bytes after the last tensor",
    ),
    (
        "gap",
        safetensors_bytes({"w": {"dtype": "U8", "shape": [4], "data_offsets": [4, 8]}}, bytes(8)),
        "4 unreferenced bytes before tensor 'w'",
    ),
    (
        "metadata not str",
        safetensors_bytes({"__metadata__": {"epochs": 3}, "w": F32_2x2}, bytes(16)),
        "__metadata__ must map strings to strings",
    ),
    (
        "duplicate tensor",
        safetensors_bytes(
            b'{"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, '
            b'"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}',
            bytes(1),
        ),
        "duplicate key 'w'",
    ),
    (
        "unknown field",
        safetensors_bytes({"w": {**F32_2x2, "exec": "rm -rf /"}}, bytes(16)),
        "unknown field(s) ['exec']",
    ),
    (
        "missing field",
        safetensors_bytes({"w": {"dtype": "F32", "shape": [1]}}, b""),
        "missing field(s) ['data_offsets']",
    ),
]


@pytest.mark.parametrize(("data", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_violation_is_unsafe_with_specific_message(
    tmp_path: Path, data: bytes, expected: str
) -> None:
    messages = _scan(tmp_path, data)
    assert messages, "a corrupt file must not pass"
    assert any(expected in message for message in messages), messages


def test_file_written_by_the_safetensors_package_is_clean(tmp_path: Path) -> None:
    write_clean_model(tmp_path)
    assert _scan(tmp_path, (tmp_path / "model.safetensors").read_bytes()) == []


def test_sub_byte_and_empty_tensors(tmp_path: Path) -> None:
    header: dict[str, Any] = {
        "f4": {"dtype": "F4", "shape": [6], "data_offsets": [0, 3]},
        "empty": {"dtype": "F32", "shape": [0, 5], "data_offsets": [3, 3]},
    }
    assert _scan(tmp_path, safetensors_bytes(header, bytes(3))) == []
    header["f4"]["shape"] = [5]
    assert any("not whole bytes" in m for m in _scan(tmp_path, safetensors_bytes(header, bytes(3))))


def test_found_by_content_without_extension(tmp_path: Path) -> None:
    data = safetensors_bytes({"w": F32_2x2}, bytes(16) + b"x")
    assert any("unreferenced" in m for m in _scan(tmp_path, data, name="weights"))


def test_only_the_header_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A 256 MiB tensor in a sparse file: validation must read 8 + header bytes, never the data.
    numel = 64 * 1024 * 1024
    header = {"big": {"dtype": "F32", "shape": [numel], "data_offsets": [0, numel * 4]}}
    target = tmp_path / "big.safetensors"
    prefix = safetensors_bytes(header, b"")
    with open(target, "wb") as handle:
        handle.write(prefix)
        handle.truncate(len(prefix) + numel * 4)
    read_sizes: list[int] = []
    real_open = open

    class Counting:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._handle = real_open(*args, **kwargs)

        def __enter__(self) -> Counting:
            return self

        def __exit__(self, *exc: object) -> None:
            self._handle.close()

        def read(self, n: int = -1) -> bytes:
            data = self._handle.read(n)
            read_sizes.append(len(data))
            return data

    monkeypatch.setattr(safetensors_check, "open", Counting, raising=False)
    assert check_safetensors(target, "big.safetensors", target.stat().st_size) == []
    assert sum(read_sizes) == len(prefix)


def test_agrees_with_the_reference_loader_on_a_real_file(tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    target = tmp_path / "ref.safetensors"
    save_file({"a": np.arange(10, dtype=np.int64), "b": np.ones((3, 3))}, str(target))
    assert set(load_file(str(target))) == {"a", "b"}
    assert check_safetensors(target, "ref.safetensors", target.stat().st_size) == []
