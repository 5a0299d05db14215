"""``llm-platform scan``: exit codes 0/1/2, text and JSON output, --sarif and --json files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.helpers.security_fixtures import malicious_pickle, scan_app, write_clean_model


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    return scan_app()


@pytest.fixture
def clean_dir(tmp_path: Path) -> Path:
    write_clean_model(tmp_path / "clean")
    return tmp_path / "clean"


@pytest.fixture
def unsafe_dir(clean_dir: Path, tmp_path: Path) -> Path:
    (clean_dir / "pytorch_model.bin").write_bytes(malicious_pickle(tmp_path / "marker"))
    return clean_dir


def test_clean_exits_0(app: typer.Typer, clean_dir: Path) -> None:
    result = CliRunner().invoke(app, ["scan", str(clean_dir)])
    assert result.exit_code == 0, result.output
    assert "SAFE: 4 file(s)" in result.output
    assert "model.safetensors" in result.output


def test_unsafe_exits_1_and_names_the_file(
    app: typer.Typer, unsafe_dir: Path, tmp_path: Path
) -> None:
    result = CliRunner().invoke(app, ["scan", str(unsafe_dir)])
    assert result.exit_code == 1, result.output
    assert "UNSAFE" in result.output
    assert "pytorch_model.bin: pickle imports dangerous global" in result.output
    assert not (tmp_path / "marker").exists()


def test_missing_path_exits_2(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["scan", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_bad_format_is_a_usage_error(app: typer.Typer, clean_dir: Path) -> None:
    result = CliRunner().invoke(app, ["scan", str(clean_dir), "--format", "xml"])
    assert result.exit_code == 2


def test_sarif_and_json_files_are_written(
    app: typer.Typer, unsafe_dir: Path, tmp_path: Path
) -> None:
    sarif, report = tmp_path / "scan.sarif", tmp_path / "scan.json"
    result = CliRunner().invoke(
        app, ["scan", str(unsafe_dir), "--sarif", str(sarif), "--json", str(report)]
    )
    assert result.exit_code == 1, result.output
    log = json.loads(sarif.read_text())
    assert log["version"] == "2.1.0"
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in log["runs"][0]["results"]
        if r["level"] == "error"
    }
    assert uris == {"pytorch_model.bin"}
    assert json.loads(report.read_text())["safe"] is False


def test_unwritable_sarif_target_exits_2(app: typer.Typer, clean_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "no-such-dir" / "scan.sarif"
    result = CliRunner().invoke(app, ["scan", str(clean_dir), "--sarif", str(target)])
    assert result.exit_code == 2
    assert "cannot write" in result.output


def test_json_format_on_stdout(app: typer.Typer, unsafe_dir: Path) -> None:
    result = CliRunner().invoke(app, ["scan", str(unsafe_dir), "--format", "json"])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["summary"]["unsafe"] == 1
    assert [f["path"] for f in payload["files"] if f["status"] == "unsafe"] == ["pytorch_model.bin"]


def test_installed_console_script(unsafe_dir: Path, clean_dir: Path, tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "llm-platform"
    sarif = tmp_path / "out.sarif"
    bad = subprocess.run(
        [str(script), "scan", str(unsafe_dir), "--sarif", str(sarif)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1, bad.stderr
    assert json.loads(sarif.read_text())["runs"][0]["results"]
    (unsafe_dir / "pytorch_model.bin").unlink()
    good = subprocess.run(
        [str(script), "scan", str(clean_dir)], capture_output=True, text=True, timeout=120
    )
    assert good.returncode == 0, good.stdout + good.stderr
