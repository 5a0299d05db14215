"""scan_path on pickle-based files: plain pickles, PyTorch zips and legacy files, .npy, .npz.

Every malicious fixture would create a marker file if anything unpickled it; each test checks
that the marker never appears.
"""

from __future__ import annotations

import io
import struct
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from llm_platform.security import ScanReport, pickles, scan_path, scanner
from tests.helpers.security_fixtures import (
    benign_pickle,
    global_call_pickle,
    legacy_torch,
    malicious_pickle,
    numeric_npy,
    object_npy,
    torch_zip,
    torch_zip_with,
)


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "marker"


def _scan_one(tmp_path: Path, name: str, data: bytes, *, strict: bool = False) -> ScanReport:
    target = Path(tempfile.mkdtemp(prefix="artifact", dir=tmp_path))
    (target / name).write_bytes(data)
    return scan_path(target, strict=strict)


def _rules(report: ScanReport) -> set[str]:
    return {finding.rule for finding in report.findings}


@pytest.mark.parametrize("protocol", range(6))
def test_os_system_pickle_is_critical_at_every_protocol(
    tmp_path: Path, marker: Path, protocol: int
) -> None:
    report = _scan_one(tmp_path, "model.pkl", malicious_pickle(marker, protocol))
    (result,) = report.files
    assert (result.kind, result.status, report.safe) == ("pickle", "unsafe", False)
    critical = [f for f in result.findings if f.severity == "critical"]
    assert [(f.rule, f.detail["name"]) for f in critical] == [("pickle-dangerous-global", "system")]
    assert critical[0].detail["module"] in ("posix", "os", "nt")
    assert report.summary["critical"] == 1
    assert not marker.exists()


def test_benign_pickle_is_clean(tmp_path: Path) -> None:
    report = _scan_one(tmp_path, "state.pkl", benign_pickle())
    (result,) = report.files
    assert (result.kind, result.status, report.safe) == ("pickle", "clean", True)
    assert [f.rule for f in result.findings] == ["pickle-content"]


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "weights.pth", "m.ckpt"])
def test_malicious_plain_pickle_under_torch_names(tmp_path: Path, marker: Path, name: str) -> None:
    report = _scan_one(tmp_path, name, malicious_pickle(marker, 2))
    assert report.files[0].status == "unsafe"
    assert "pickle-dangerous-global" in _rules(report)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["notes.txt", "weights", "model.onnx_data"])
def test_pickle_hidden_under_innocent_name_is_found_by_content(
    tmp_path: Path, marker: Path, name: str
) -> None:
    for protocol in (0, 4):
        report = _scan_one(tmp_path, name, malicious_pickle(marker, protocol))
        assert report.files[0].kind == "pickle", protocol
        assert report.files[0].status == "unsafe", protocol
    assert not marker.exists()


def test_stack_global_import_is_resolved(tmp_path: Path) -> None:
    report = _scan_one(tmp_path, "x.pkl", global_call_pickle("os", "system", stack_global=True))
    (finding,) = [f for f in report.findings if f.severity == "critical"]
    assert (finding.detail["module"], finding.detail["name"]) == ("os", "system")


def test_pytorch_zip_with_malicious_data_pkl(tmp_path: Path, marker: Path) -> None:
    report = _scan_one(tmp_path, "model.pt", torch_zip_with(malicious_pickle(marker, 2)))
    (result,) = report.files
    assert (result.kind, result.status) == ("pytorch-zip", "unsafe")
    (finding,) = [f for f in result.findings if f.severity == "critical"]
    assert finding.detail["member"] == "archive/data.pkl"
    assert "archive/data.pkl" in finding.message
    assert not marker.exists()


def test_pytorch_zip_member_found_by_magic_not_name(tmp_path: Path, marker: Path) -> None:
    data = torch_zip({"archive/constants": malicious_pickle(marker, 2), "archive/version": b"3"})
    report = _scan_one(tmp_path, "model.bin", data)
    assert report.files[0].status == "unsafe"
    assert report.findings[0].detail["member"] == "archive/constants"


def test_pytorch_zip_with_tensor_rebuild_globals_is_clean(tmp_path: Path) -> None:
    data_pkl = global_call_pickle("torch._utils", "_rebuild_tensor_v2")
    report = _scan_one(tmp_path, "model.pt", torch_zip_with(data_pkl))
    assert (report.files[0].kind, report.files[0].status, report.safe) == (
        "pytorch-zip",
        "clean",
        True,
    )
    (info,) = report.findings
    assert info.detail["safe_globals"] == ["torch._utils._rebuild_tensor_v2"]


def test_unknown_global_is_medium_and_fails_only_in_strict_mode(tmp_path: Path) -> None:
    data = torch_zip_with(global_call_pickle("mylib.layers", "Custom"))
    lenient = _scan_one(tmp_path, "model.pt", data)
    assert lenient.safe and lenient.summary["medium"] == 1
    strict = _scan_one(tmp_path, "model.pt", data, strict=True)
    assert not strict.safe and strict.summary["high"] == 1
    assert "mylib.layers.Custom" in strict.findings[0].message


def test_legacy_torch_checkpoint(tmp_path: Path, marker: Path) -> None:
    clean = _scan_one(tmp_path, "old.bin", legacy_torch(benign_pickle(2)))
    assert clean.safe, clean.findings
    assert clean.findings[-1].detail["format"] == "legacy torch.save"
    assert clean.findings[-1].detail["pickles"] == 5
    bad = _scan_one(tmp_path, "old.bin", legacy_torch(malicious_pickle(marker, 2)))
    assert bad.files[0].status == "unsafe"
    assert not marker.exists()


def test_npy_with_object_dtype_is_scanned_as_pickle(tmp_path: Path, marker: Path) -> None:
    report = _scan_one(tmp_path, "emb.npy", object_npy(marker))
    assert (report.files[0].kind, report.files[0].status) == ("pickle", "unsafe")
    assert "pickle-dangerous-global" in _rules(report)
    assert not marker.exists()


def test_numeric_npy_is_clean_other(tmp_path: Path) -> None:
    report = _scan_one(tmp_path, "emb.npy", numeric_npy())
    assert (report.files[0].kind, report.files[0].status) == ("other", "clean")
    assert "float32" in report.findings[0].message


def test_npz_with_object_member(tmp_path: Path, marker: Path) -> None:
    data = torch_zip({"a.npy": numeric_npy(), "b.npy": object_npy(marker)})
    report = _scan_one(tmp_path, "arrays.npz", data)
    assert (report.files[0].kind, report.files[0].status) == ("pytorch-zip", "unsafe")
    assert {f.detail.get("member") for f in report.findings if f.severity == "critical"} == {
        "b.npy"
    }
    assert not marker.exists()


def test_truncated_pickle_fails_closed(tmp_path: Path) -> None:
    report = _scan_one(tmp_path, "model.pkl", benign_pickle()[:-7])
    assert (report.files[0].status, report.safe) == ("error", False)
    assert "pickle-parse-error" in _rules(report)
    assert report.summary["errors"] == 1


def test_non_pickle_under_pickle_extension_fails_closed(tmp_path: Path) -> None:
    # picklescan alone reports this as clean ("could not parse as pickle").
    report = _scan_one(tmp_path, "pytorch_model.bin", b"this is not a pickle at all\n" * 10)
    assert report.files[0].status == "error"
    assert not report.safe


def test_dangerous_global_before_garbage_is_unsafe(tmp_path: Path, marker: Path) -> None:
    report = _scan_one(tmp_path, "model.pkl", malicious_pickle(marker, 2) + b"\xff\xfe\x00junk")
    assert report.files[0].status == "unsafe"
    assert {"pickle-dangerous-global", "pickle-parse-error"} <= _rules(report)


def test_corrupt_zip_member_fails_closed(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", benign_pickle() * 50)
    data = bytearray(buffer.getvalue())
    for offset in range(60, 90):
        data[offset] ^= 0xFF
    report = _scan_one(tmp_path, "model.pt", bytes(data))
    assert report.files[0].status == "error"
    assert not report.safe


def test_truncated_zip_fails_closed(tmp_path: Path) -> None:
    data = torch_zip_with(benign_pickle())
    report = _scan_one(tmp_path, "model.pt", data[: len(data) // 2])
    assert report.files[0].status == "error"
    assert "archive-error" in _rules(report)


def test_pickle_named_safetensors_is_a_mismatch(tmp_path: Path, marker: Path) -> None:
    report = _scan_one(tmp_path, "model.safetensors", malicious_pickle(marker))
    assert (report.files[0].kind, report.files[0].status) == ("safetensors", "unsafe")
    assert {"safetensors-invalid", "extension-mismatch", "pickle-dangerous-global"} <= _rules(
        report
    )


def test_tensor_bytes_that_start_like_a_pickle_are_not_a_pickle(tmp_path: Path) -> None:
    # int16 128 is b"\x80\x00": a PROTO opcode. Raw storages must not fail the scan.
    storage = np.array([128, 7, -3, 9000], dtype=np.int16).tobytes() * 100
    assert storage.startswith(b"\x80\x00")
    data_pkl = global_call_pickle("torch._utils", "_rebuild_tensor_v2")
    zipped = _scan_one(
        tmp_path, "model.pt", torch_zip({"archive/data.pkl": data_pkl, "archive/data/0": storage})
    )
    assert zipped.safe, zipped.findings
    loose = _scan_one(tmp_path, "tensor.raw", storage)
    assert (loose.files[0].kind, loose.files[0].status) == ("other", "clean")


def test_sniffed_data_with_a_dangerous_global_is_unsafe_even_if_broken(
    tmp_path: Path, marker: Path
) -> None:
    report = _scan_one(tmp_path, "tensor.raw", malicious_pickle(marker, 2) + b"\xff" * 32)
    assert (report.files[0].kind, report.files[0].status) == ("pickle", "unsafe")
    member = torch_zip({"archive/data/3": malicious_pickle(marker, 0)[:-1] + b"\xff"})
    zipped = _scan_one(tmp_path, "model.pt", member)
    assert zipped.files[0].status == "unsafe"
    assert not marker.exists()


@pytest.fixture
def streamed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force the capped streaming path that large pickles take."""
    monkeypatch.setattr(pickles, "IN_MEMORY_LIMIT", 0)


@pytest.mark.usefixtures("streamed")
def test_streamed_scan_gives_the_same_verdicts(tmp_path: Path, marker: Path) -> None:
    assert _scan_one(tmp_path, "a.pkl", malicious_pickle(marker, 0)).files[0].status == "unsafe"
    assert _scan_one(tmp_path, "b.bin", legacy_torch(benign_pickle(2))).safe
    npy = _scan_one(tmp_path, "c.npy", object_npy(marker))
    assert npy.files[0].status == "unsafe"
    zipped = _scan_one(tmp_path, "d.pt", torch_zip_with(malicious_pickle(marker, 2)))
    assert zipped.files[0].status == "unsafe"
    assert _scan_one(tmp_path, "e.pkl", benign_pickle()[:-3]).files[0].status == "error"
    assert not marker.exists()


@pytest.mark.parametrize("in_memory", [True, False])
def test_hostile_length_field_is_a_parse_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_memory: bool
) -> None:
    if not in_memory:
        monkeypatch.setattr(pickles, "IN_MEMORY_LIMIT", 0)
    # BINBYTES8 claiming 2**60 bytes, followed by 16 real ones.
    data = b"\x80\x04\x8e" + struct.pack("<Q", 2**60) + bytes(16) + b"."
    report = _scan_one(tmp_path, "model.pkl", data)
    assert report.files[0].status == "error"
    assert "pickle-parse-error" in _rules(report)


def test_a_crashing_check_fails_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("checker bug")

    monkeypatch.setattr(scanner, "check_json", boom)
    report = _scan_one(tmp_path, "config.json", b"{}")
    (result,) = report.files
    assert (result.status, result.findings[0].rule) == ("error", "scanner-error")
    assert "RuntimeError: checker bug" in result.findings[0].message
