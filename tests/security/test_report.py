"""scan_path over directories (walking, links, special files, other formats) and its outputs."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from llm_platform.security import ScanReport, scan_path
from llm_platform.security.rules import RULES
from tests.helpers.security_fixtures import (
    SARIF_SUBSET,
    benign_pickle,
    malicious_pickle,
    write_clean_model,
)


def test_clean_model_directory_is_safe(tmp_path: Path) -> None:
    write_clean_model(tmp_path / "model")
    report = scan_path(tmp_path / "model")
    assert report.safe
    assert {f.path: (f.kind, f.status) for f in report.files} == {
        "README.md": ("text", "clean"),
        "config.json": ("json", "clean"),
        "model.safetensors": ("safetensors", "clean"),
        "tokenizer.json": ("json", "clean"),
    }
    assert report.summary == {
        "files": 4,
        "clean": 4,
        "unsafe": 0,
        "errors": 0,
        "critical": 0,
        "high": 0,
        "medium": 0,
        "info": 1,
    }
    assert report.root == str((tmp_path / "model").resolve())
    assert set(report.scanner_versions) == {"llm-platform", "picklescan"}


def test_mixed_directory_is_unsafe_and_names_the_bad_file(tmp_path: Path) -> None:
    root = tmp_path / "model"
    write_clean_model(root)
    (root / "extras" / "deep").mkdir(parents=True)
    (root / "extras" / "deep" / "optimizer.pt").write_bytes(malicious_pickle(tmp_path / "m"))
    (root / "extras" / "state.pkl").write_bytes(benign_pickle())
    report = scan_path(root)
    assert not report.safe
    assert [f.path for f in report.bad_files()] == ["extras/deep/optimizer.pt"]
    assert report.summary["files"] == 6 and report.summary["unsafe"] == 1
    assert not (tmp_path / "m").exists()


def test_hidden_directories_are_scanned_too(tmp_path: Path) -> None:
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "blob").write_bytes(malicious_pickle(tmp_path / "m", 0))
    assert [f.path for f in scan_path(tmp_path).bad_files()] == [".cache/blob"]


def test_single_file_root(tmp_path: Path) -> None:
    target = tmp_path / "model.pkl"
    target.write_bytes(benign_pickle())
    report = scan_path(target)
    assert report.safe and report.root == str(target.resolve())
    assert [f.path for f in report.files] == ["model.pkl"]


def test_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        scan_path(tmp_path / "nope")


def test_symlinks_are_never_followed_out_of_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside.pkl"
    outside.write_bytes(malicious_pickle(tmp_path / "m"))
    root = tmp_path / "model"
    (root / "sub").mkdir(parents=True)
    (root / "weights.pkl").write_bytes(benign_pickle())
    (root / "escape.pkl").symlink_to(outside)
    (root / "inside.pkl").symlink_to(root / "weights.pkl")
    (root / "dangling").symlink_to(tmp_path / "gone")
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
    report = scan_path(root)
    by_path = {f.path: f for f in report.files}
    assert set(by_path) == {"escape.pkl", "inside.pkl", "dangling", "sub/loop", "weights.pkl"}
    assert by_path["escape.pkl"].status == "error"
    assert "outside the scanned root" in by_path["escape.pkl"].findings[0].message
    assert by_path["dangling"].status == "error"
    assert by_path["inside.pkl"].status == "clean"
    assert by_path["sub/loop"].status == "clean"
    # The malicious target outside the root was not scanned (no critical finding), yet the
    # report fails closed.
    assert report.summary["critical"] == 0 and not report.safe


def test_fifo_is_an_error_not_a_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    report = scan_path(tmp_path)
    assert (report.files[0].status, report.files[0].findings[0].rule) == (
        "error",
        "unreadable-file",
    )


def test_gguf_magic(tmp_path: Path) -> None:
    # A header claiming 291 tensors and 24 metadata pairs with nothing behind it is refused
    # (security/gguf.py parses the whole header; tests/security/test_gguf.py covers the rest).
    (tmp_path / "forged.gguf").write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 291, 24) + bytes(64))
    (tmp_path / "bad.gguf").write_bytes(b"GGML" + bytes(64))
    by_path = {f.path: f for f in scan_path(tmp_path).files}
    assert (by_path["forged.gguf"].kind, by_path["forged.gguf"].status) == ("gguf", "unsafe")
    assert by_path["forged.gguf"].findings[0].rule == "gguf-invalid"
    assert (by_path["bad.gguf"].status, by_path["bad.gguf"].findings[0].rule) == (
        "error",
        "gguf-bad-magic",
    )


def test_invalid_json_fails_closed(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.json").write_text('{"model": {"vocab": {"a": 0,}}}')
    report = scan_path(tmp_path)
    assert (report.files[0].kind, report.files[0].status, report.safe) == ("json", "error", False)
    assert "line 1" in report.files[0].findings[0].message


def test_other_files_are_clean_with_info(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.model").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "empty").write_bytes(b"")
    # Starts with pickle opcodes (GLOBAL "at file", LIST, SETITEM) but never calls anything.
    (tmp_path / "notes").write_text("cat file\nls -la\nRun it.\n")
    report = scan_path(tmp_path)
    assert report.safe
    assert {(f.path, f.kind, f.findings[0].rule) for f in report.files} == {
        ("tokenizer.model", "other", "file-info"),
        ("empty", "other", "file-info"),
        ("notes", "text", "file-info"),
    }


def _mixed_report(tmp_path: Path) -> ScanReport:
    root = tmp_path / "my model"
    write_clean_model(root)
    (root / "sub").mkdir()
    (root / "sub" / "evil file.pkl").write_bytes(malicious_pickle(tmp_path / "m"))
    (root / "bad.gguf").write_bytes(b"nope")
    return scan_path(root)


def test_sarif_is_structurally_valid(tmp_path: Path) -> None:
    report = _mixed_report(tmp_path)
    sarif = json.loads(json.dumps(report.to_sarif()))
    jsonschema.validate(sarif, SARIF_SUBSET)
    run = sarif["runs"][0]
    rule_ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert rule_ids == list(RULES)
    assert len(run["results"]) == len(report.findings)
    by_rule = {r["ruleId"]: r for r in run["results"]}
    evil = by_rule["pickle-dangerous-global"]
    assert evil["level"] == "error"
    location = evil["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location["uri"] == "sub/evil%20file.pkl"
    base = run["originalUriBaseIds"][location["uriBaseId"]]["uri"]
    assert base == (tmp_path / "my model").resolve().as_uri() + "/"
    assert by_rule["gguf-bad-magic"]["level"] == "error"
    assert by_rule["file-info"]["level"] == "note"
    for result in run["results"]:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]


def test_json_round_trip(tmp_path: Path) -> None:
    report = _mixed_report(tmp_path)
    again = ScanReport.model_validate_json(report.to_json())
    assert again == report
    assert again.safe is False and again.summary["errors"] == 1


def test_import_is_cheap() -> None:
    code = (
        "import sys, llm_platform.security as s; "
        "heavy = [m for m in ('numpy', 'torch', 'dagster', 'safetensors') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
