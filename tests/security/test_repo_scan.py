"""Repository secret scan: planted secrets found with file and line, values never shown,
``.secrets.baseline`` honoured, commits scanned from git objects, ``scan --repo`` exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import typer
from typer.testing import CliRunner

from llm_platform.gitops.repo import GitRepo
from llm_platform.reporting.commit_status import secrets_found
from llm_platform.security.repo_scan import (
    MAX_SCANNED_BYTES,
    REPO_SCAN_TOOL,
    check_metadata,
    model_scan_paths,
    scan_commit,
    scan_directory,
)
from llm_platform.security.secret_rules import BASELINE_INVALID, SECRETS_BASELINE, secret_rules
from tests.helpers.gitops_fixtures import WorkRepo
from tests.helpers.repo_scan_fixtures import Planted, plant_secrets
from tests.helpers.security_fixtures import SARIF_SUBSET, scan_app


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    return scan_app()


def _repo(tmp_path: Path) -> WorkRepo:
    repo = WorkRepo(tmp_path / "models-repo")
    repo.add_model("alpha")
    repo.add_model("beta")
    repo.write("config/staging.yaml", "environment: staging\n")
    return repo


def _assert_no_values(text: str, planted: Planted) -> None:
    for value in planted.values:
        assert value not in text


def _places(findings) -> dict[str, tuple[str, int]]:  # noqa: ANN001
    return {f.rule: (f.path, f.detail["line"]) for f in findings}


def test_planted_secrets_found_with_file_and_line_and_never_shown(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    planted = plant_secrets(repo)
    report = scan_directory(repo.path)
    assert not report.safe
    assert _places(report.blocking()) == planted.places
    assert report.summary["blocking"] == 3 and report.files_scanned == 7
    dumped = report.to_json() + json.dumps(report.to_sarif()) + json.dumps(check_metadata(report))
    _assert_no_values(dumped + report.markdown(), planted)
    assert "`models/alpha/serving.env` | 2 |" in report.markdown()


def test_sarif_names_file_line_and_rule(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    planted = plant_secrets(repo)
    sarif = json.loads(json.dumps(scan_directory(repo.path).to_sarif()))
    jsonschema.validate(sarif, SARIF_SUBSET)
    run = sarif["runs"][0]
    assert run["tool"]["driver"]["name"] == REPO_SCAN_TOOL
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert rules == list(secret_rules())
    located = {
        r["ruleId"]: (
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
        )
        for r in run["results"]
    }
    assert located == planted.places
    assert {r["level"] for r in run["results"]} == {"error"}
    assert all(rules[r["ruleIndex"]] == r["ruleId"] for r in run["results"])


def test_clean_repo_exits_0_and_dirty_exits_1(app: typer.Typer, tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    clean = CliRunner().invoke(app, ["scan", "--repo", str(repo.path)])
    assert clean.exit_code == 0, clean.output
    assert "CLEAN" in clean.output and "0 finding(s)" in clean.output
    planted = plant_secrets(repo)
    sarif = tmp_path / "repo.sarif"
    dirty = CliRunner().invoke(app, ["scan", "--repo", str(repo.path), "--sarif", str(sarif)])
    assert dirty.exit_code == 1, dirty.output
    assert "models/alpha/serving.env line 2" in dirty.output
    _assert_no_values(dirty.output + sarif.read_text(), planted)
    # The second run reports the same thing (no state kept between runs).
    again = CliRunner().invoke(app, ["scan", "--repo", str(repo.path), "--format", "json"])
    assert again.exit_code == 1
    assert _places(scan_directory(repo.path).blocking()) == planted.places
    _assert_no_values(again.output, planted)


def test_usage_errors_exit_2(app: typer.Typer, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["scan"]).exit_code == 2
    assert runner.invoke(app, ["scan", str(tmp_path), "--repo", str(tmp_path)]).exit_code == 2
    assert runner.invoke(app, ["scan", str(tmp_path), "--commit", "HEAD"]).exit_code == 2
    missing = runner.invoke(app, ["scan", "--repo", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "not a directory" in missing.output
    repo = _repo(tmp_path)
    repo.commit("models")
    unknown = runner.invoke(app, ["scan", "--repo", str(repo.path), "--commit", "no-such-rev"])
    assert unknown.exit_code == 2 and "no-such-rev" in unknown.output


def test_baseline_suppresses_reviewed_findings_only(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    planted = plant_secrets(repo)
    first = scan_directory(repo.path)
    aws = next(f for f in first.findings if f.rule == "secret-aws-access-key")
    pem = next(f for f in first.findings if f.rule == "secret-private-key")
    entry = lambda f, **extra: {  # noqa: E731
        "type": f.detail["secret_type"],
        "hashed_secret": f.detail["hashed_secret"],
        "line_number": f.detail["line"],
        **extra,
    }
    baseline = {
        "version": "1.5.0",
        "results": {
            aws.path: [entry(aws, is_secret=False)],  # reviewed: a false positive
            pem.path: [entry(pem, is_secret=True)],  # audited as real: still reported
        },
    }
    repo.write(SECRETS_BASELINE, json.dumps(baseline))
    report = scan_directory(repo.path)
    assert report.suppressed == 1
    assert set(_places(report.findings)) == {"secret-slack-token", "secret-private-key"}
    assert not report.safe
    # The same key pasted in another file is not covered by the review of the first.
    repo.write("models/beta/copy.env", f"KEY={planted.aws_key}\n")
    assert ("models/beta/copy.env", 1) in _places(scan_directory(repo.path).findings).values()


def test_baseline_written_by_detect_secrets_itself(tmp_path: Path) -> None:
    """``detect-secrets scan > .secrets.baseline`` (the tool's own CLI) is understood as is."""
    repo = _repo(tmp_path)
    plant_secrets(repo)
    repo.commit("reviewed test fixtures")
    tool = Path(sys.executable).parent / "detect-secrets"
    proc = subprocess.run(
        [str(tool), "scan"], cwd=repo.path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    repo.write(SECRETS_BASELINE, proc.stdout)
    sha = repo.commit("baseline")
    for report in (scan_directory(repo.path), scan_commit(GitRepo(str(repo.path)), sha)):
        assert report.safe and report.findings == [] and report.suppressed == 3


def test_unreadable_baseline_fails_closed(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    repo.write(SECRETS_BASELINE, "{not json")
    report = scan_directory(repo.path)
    assert not report.safe
    assert [f.rule for f in report.findings] == [BASELINE_INVALID]
    assert SECRETS_BASELINE in report.findings[0].message


def test_commit_scan_reads_git_objects_not_the_work_tree(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    planted = plant_secrets(repo)
    dirty = repo.commit("leak")
    repo.git("rm", "-q", "models/alpha/serving.env", "models/alpha/deploy-key.pem")
    clean = repo.commit("remove the leak")
    repo.write("models/alpha/untracked.env", f"K={planted.aws_key}\n")  # never committed
    git_repo = GitRepo(str(repo.path))
    at_dirty = scan_commit(git_repo, dirty)
    assert at_dirty.commit == dirty and _places(at_dirty.blocking()) == planted.places
    at_clean = scan_commit(git_repo, clean)
    assert at_clean.safe and at_clean.findings == []
    # Only the model's own paths: beta's scan does not see alpha's secrets.
    beta = scan_commit(git_repo, dirty, model_scan_paths("beta", "local", "weights/beta"))
    assert beta.safe and beta.paths == ["models/beta", "weights/beta"]


def test_weights_and_binaries_are_skipped_and_counted(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    planted = plant_secrets(repo)
    (repo.path / "weights").mkdir()
    (repo.path / "weights" / "model.bin").write_bytes(b"\0" + planted.aws_key.encode())
    with (repo.path / "weights" / "big.txt").open("wb") as handle:
        handle.truncate(MAX_SCANNED_BYTES + 1)
    repo.commit("weights")
    for report in (scan_directory(repo.path), scan_commit(GitRepo(str(repo.path)), "main")):
        assert sorted(report.skipped) == ["weights/big.txt", "weights/model.bin"]
        assert report.summary["files_skipped"] == 2
        assert _places(report.blocking()) == planted.places


def test_a_file_that_is_not_utf8_is_still_scanned(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    planted = plant_secrets(repo)
    latin = repo.path / "models" / "beta" / "notes.txt"
    latin.write_bytes(b"caf\xe9 \xff\n" + f"key={planted.aws_key}\n".encode())
    repo.commit("latin-1 notes")
    for report in (scan_directory(repo.path), scan_commit(GitRepo(str(repo.path)), "main")):
        found = {(f.path, f.detail["line"]) for f in report.blocking()}
        assert ("models/beta/notes.txt", 2) in found


def test_model_scan_paths() -> None:
    assert model_scan_paths("m", None, None) == ["models/m"]
    assert model_scan_paths("m", "local", "./weights/m/") == ["models/m", "weights/m"]
    assert model_scan_paths("m", "local", "/srv/weights") == ["models/m"]
    assert model_scan_paths("m", "s3", "s3://b/m") == ["models/m"]


def test_commit_status_counts_without_values() -> None:
    status = secrets_found("alpha", 3, 2)
    assert status.state == "failure"
    assert "3 finding(s) in 2 file(s)" in status.description
