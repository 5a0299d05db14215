"""The GGUF checks of the artifact scanner: real small files written here, and the real Gemma."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest

from llm_platform.security import scan_path
from llm_platform.security.gguf import MAX_CHAT_TEMPLATE_BYTES, GgufError, parse_gguf
from tests.helpers.gguf_fixtures import F32, Q8_0, gguf_bytes, write_gguf


def _only(root: Path):  # type: ignore[no-untyped-def]
    report = scan_path(root)
    assert len(report.files) == 1
    return report, report.files[0]


def test_valid_file_is_clean_and_reports_header(tmp_path: Path) -> None:
    path = write_gguf(
        tmp_path / "m.gguf",
        metadata={"general.name": "tiny", "tokenizer.ggml.tokens": ["a", "b", "<eos>"]},
        tensors=[("tok_embd.weight", [64, 3], Q8_0), ("norm.weight", [64], F32)],
    )
    report, result = _only(path)
    assert report.safe and result.kind == "gguf" and result.status == "clean"
    header = result.findings[0]
    assert header.rule == "gguf-header"
    assert header.detail["tensor_count"] == 2
    assert header.detail["metadata_kv_count"] == 3
    assert header.detail["general.name"] == "tiny"
    # 6 Q8_0 blocks of 34 bytes padded to 224 (alignment 32), then 64 float32.
    assert header.detail["data_bytes"] == 224 + 64 * 4


def test_chat_template_is_reported_with_size_and_sha256(tmp_path: Path) -> None:
    template = "{% for m in messages %}{{ m.content }}{% endfor %}"
    path = write_gguf(tmp_path / "m.gguf", metadata={"tokenizer.chat_template": template})
    report, result = _only(path)
    assert report.safe
    [chat] = [f for f in result.findings if f.rule == "gguf-chat-template"]
    assert chat.detail["bytes"] == len(template)
    assert len(chat.detail["sha256"]) == 64


def test_huge_chat_template_fails_the_scan(tmp_path: Path) -> None:
    big = "x" * (MAX_CHAT_TEMPLATE_BYTES + 1)
    path = write_gguf(tmp_path / "m.gguf", metadata={"tokenizer.chat_template": big})
    report, result = _only(path)
    assert not report.safe and result.status == "unsafe"
    [finding] = [f for f in result.findings if f.severity == "high"]
    assert finding.rule == "gguf-chat-template-too-large"
    assert finding.detail["bytes"] == MAX_CHAT_TEMPLATE_BYTES + 1


@pytest.mark.parametrize("cut", [3, 10, 30, 60, -40, -1])
def test_truncated_file_fails(tmp_path: Path, cut: int) -> None:
    data = gguf_bytes(metadata={"general.name": "tiny"}, tensors=[("w", [32, 4], F32)])
    path = tmp_path / "m.gguf"
    path.write_bytes(data[:cut])
    report, result = _only(path)
    assert not report.safe
    assert result.findings[0].rule in ("gguf-invalid", "gguf-bad-magic")
    if cut > 4:
        assert "truncated" in result.findings[0].detail["error"] or "cannot fit" in str(
            result.findings[0].detail["error"]
        )


def test_absurd_counts_fail_fast_without_reading_the_file(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(gguf_bytes(tensor_count=2**62) + bytes(1024))
    # CPU time, so a busy machine cannot fail it; walking 2**62 tensor entries never ends.
    started = time.process_time()
    report, result = _only(path)
    assert time.process_time() - started < 5.0
    assert not report.safe and result.findings[0].rule == "gguf-invalid"
    assert "absurd" in result.findings[0].message
    # Within the hard limit but more than the file can hold.
    path.write_bytes(gguf_bytes(kv_count=60_000))
    with pytest.raises(GgufError, match="cannot fit"):
        parse_gguf(path)


def test_absurd_string_and_array_lengths_fail(tmp_path: Path) -> None:
    head = b"GGUF" + struct.pack("<IQQ", 3, 0, 1)
    huge_key = head + struct.pack("<Q", 2**40) + bytes(64)
    (tmp_path / "a.gguf").write_bytes(huge_key)
    with pytest.raises(GgufError, match="limit"):
        parse_gguf(tmp_path / "a.gguf")
    key = struct.pack("<Q", 3) + b"arr"
    array = head + key + struct.pack("<IIQ", 9, 8, 2**23) + bytes(64)
    (tmp_path / "b.gguf").write_bytes(array)
    with pytest.raises(GgufError, match="more than the file holds"):
        parse_gguf(tmp_path / "b.gguf")


def test_bad_tensor_tables_fail(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(gguf_bytes(tensors=[("w", [32], F32), ("w", [32], F32)]))
    with pytest.raises(GgufError, match="duplicate tensor name"):
        parse_gguf(path)
    path.write_bytes(gguf_bytes(tensors=[("w", [33], Q8_0)]))
    with pytest.raises(GgufError, match="block size"):
        parse_gguf(path)
    data = bytearray(gguf_bytes(tensors=[("w", [64], F32)]))
    type_at = data.index(b"w") + 1 + 4 + 8
    data[type_at : type_at + 4] = struct.pack("<I", 99)
    path.write_bytes(bytes(data))
    with pytest.raises(GgufError, match="unknown ggml type 99"):
        parse_gguf(path)


def test_unsupported_version_and_big_endian_fail(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(gguf_bytes(version=1))
    with pytest.raises(GgufError, match="unsupported GGUF version 1"):
        parse_gguf(path)


def test_gguf_magic_found_under_another_name(tmp_path: Path) -> None:
    write_gguf(tmp_path / "weights.bin", tensors=[("w", [32], F32)])
    report, result = _only(tmp_path)
    assert report.safe and result.kind == "gguf"
    assert result.findings[0].rule == "gguf-header"


def test_real_gemma_file_is_clean(gemma_artifact: Path) -> None:
    report = scan_path(gemma_artifact)
    assert report.safe, report.findings
    [result] = report.files
    header = result.findings[0].detail
    assert header["general.architecture"] == "gemma3"
    assert header["tensor_count"] == 236
    # Every tensor lies inside the data section and the section is fully described.
    assert header["data_bytes"] == 246_587_904
    # This base model carries no chat template.
    assert not [f for f in result.findings if f.rule.startswith("gguf-chat-template")]
