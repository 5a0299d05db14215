"""The pull-request check for models repos: ``validate --format github``, ``action.yml`` and the
workflow template (schemas, zizmor, and the action's steps run on real git repos)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llm_platform.config.github_format import (
    escape_data,
    escape_property,
    repo_relative,
    workflow_command,
)
from llm_platform.config.problems import Problem
from tests.helpers.action_runner import run_action
from tests.helpers.gitops_fixtures import WorkRepo
from tests.helpers.paths import REPO_ROOT
from tests.helpers.repo_scan_fixtures import plant_secrets
from tests.helpers.security_fixtures import malicious_pickle

ROOT = REPO_ROOT
ACTION = ROOT / "action.yml"
TEMPLATE = ROOT / "examples" / "github" / "models-repo-check.yml"
ZIZMOR_CONFIG = ROOT / "examples" / "github" / "zizmor.yml"
EXAMPLES = ROOT / "examples" / "models-repo"
BIN = Path(sys.executable).parent
CLI = BIN / "llm-platform"


def tool(name: str) -> str:
    """A dev tool installed next to this interpreter (``pip install -e '.[dev]'``)."""
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in {BIN}: run `pip install -e '.[dev]'`")
    return str(path)


def line_of(path: Path, needle: str) -> int:
    """1-based line of the first line of ``path`` containing ``needle``."""
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in text:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def parse_annotation(line: str) -> tuple[dict[str, str], str]:
    """Split ``::error k=v,k=v::message`` the way the runner does."""
    assert line.startswith("::error "), line
    props_text, _, message = line[len("::error ") :].partition("::")
    props = dict(part.split("=", 1) for part in props_text.split(","))
    return props, message


def unescape_property(text: str) -> str:
    for escaped, raw in (("%2C", ","), ("%3A", ":"), ("%0A", "\n"), ("%0D", "\r"), ("%25", "%")):
        text = text.replace(escaped, raw)
    return text


# --- escaping and paths -----------------------------------------------------------------------


def test_message_escapes_percent_first_and_newlines() -> None:
    assert escape_data("50% of\r\nlines") == "50%25 of%0D%0Alines"
    assert escape_data("%0A stays literal") == "%250A stays literal"
    assert escape_data("a: b, c") == "a: b, c"  # only properties escape ':' and ','


def test_property_escapes_separators() -> None:
    assert escape_property("serving.max_batch_size") == "serving.max_batch_size"
    assert escape_property("a,b:c%\n") == "a%2Cb%3Ac%25%0A"
    assert unescape_property(escape_property("x:,%\r\n%2C")) == "x:,%\r\n%2C"


def test_annotation_of_problem_with_hostile_text(tmp_path: Path) -> None:
    repo = WorkRepo(tmp_path / "repo")
    problem = Problem(
        path=str(repo.path / "models" / "a,b" / "model.yaml"),
        line=7,
        field="slo.window:x",
        message="bad\nvalue 100%",
    )
    line = workflow_command(problem, cwd=tmp_path)
    assert "\n" not in line
    props, message = parse_annotation(line)
    assert unescape_property(props["file"]) == "models/a,b/model.yaml"
    assert props["line"] == "7"
    assert unescape_property(props["title"]) == "slo.window:x"
    assert message == "bad%0Avalue 100%25"


def test_paths_are_relative_to_the_work_tree_not_the_cwd(tmp_path: Path) -> None:
    repo = WorkRepo(tmp_path / "repo")
    inner = repo.path / "models" / "m"
    inner.mkdir(parents=True)
    assert repo_relative("model.yaml", cwd=inner) == "models/m/model.yaml"
    assert repo_relative(str(inner / "model.yaml"), cwd=tmp_path) == "models/m/model.yaml"
    outside = tmp_path / "plain"
    outside.mkdir()
    assert repo_relative("x/model.yaml", cwd=outside) == "x/model.yaml"


def test_problem_without_line_or_field_has_no_line_and_a_generic_title(tmp_path: Path) -> None:
    props, message = parse_annotation(
        workflow_command(Problem(path="models/x", message="no model.yaml"), cwd=tmp_path)
    )
    assert "line" not in props and props["title"] == "llm-platform validate"
    assert message == "no model.yaml"


# --- validate --format github on a real repo ----------------------------------------------------


def failing_repo(path: Path) -> WorkRepo:
    """The examples repo with a typo'd key, too little memory, and an unsafe pickle."""
    shutil.copytree(EXAMPLES, path)
    repo = WorkRepo(path)
    model = path / "models" / "mistral-7b" / "model.yaml"
    text = model.read_text(encoding="utf-8")
    text = text.replace("memory_gb: 32", "memory_gb: 4").replace(
        "max_batch_size: 16", "max_batch_sise: 16"
    )
    model.write_text(text, encoding="utf-8")
    env = path / "config" / "staging.yaml"
    env.write_text(
        env.read_text(encoding="utf-8").replace("latency_p95_ms:", "latency_p95_ms: -5 #"),
        encoding="utf-8",
    )
    (path / "weights" / "evil").mkdir()
    (path / "weights" / "evil" / "model.pkl").write_bytes(malicious_pickle(path / "pwned"))
    repo.commit("break things")
    return repo


def passing_repo(path: Path) -> WorkRepo:
    shutil.copytree(EXAMPLES, path)
    repo = WorkRepo(path)
    repo.commit("examples")
    return repo


def expected_annotations(root: Path) -> set[tuple[str, int, str]]:
    model = root / "models" / "mistral-7b" / "model.yaml"
    env = root / "config" / "staging.yaml"
    return {
        ("models/mistral-7b/model.yaml", line_of(model, "memory_gb:"), "resources.memory_gb"),
        (
            "models/mistral-7b/model.yaml",
            line_of(model, "max_batch_sise:"),
            "serving.max_batch_sise",
        ),
        ("config/staging.yaml", line_of(env, "latency_p95_ms:"), "slo.latency_p95_ms"),
    }


def annotations(stdout: str) -> set[tuple[str, int, str]]:
    found = set()
    for line in stdout.splitlines():
        props, _ = parse_annotation(line)
        found.add(
            (
                unescape_property(props["file"]),
                int(props["line"]),
                unescape_property(props["title"]),
            )
        )
    return found


def test_validate_github_points_at_file_and_line(tmp_path: Path) -> None:
    repo = failing_repo(tmp_path / "models-repo")
    # Started from a model directory: paths are still relative to the repository root.
    proc = subprocess.run(
        [str(CLI), "validate", "--format", "github", "../.."],
        cwd=repo.path / "models" / "mistral-7b",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert annotations(proc.stdout) == expected_annotations(repo.path)


# --- action.yml and the workflow template --------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "schema"),
    [(ACTION, "vendor.github-actions"), (TEMPLATE, "vendor.github-workflows")],
    ids=["action", "workflow"],
)
def test_files_match_githubs_schemas(path: Path, schema: str) -> None:
    proc = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_schema_check_can_fail(tmp_path: Path) -> None:
    broken = tmp_path / "action.yml"
    broken.write_text(ACTION.read_text().replace("using: composite", "using: teleport"))
    proc = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1


def test_zizmor_finds_nothing_offline() -> None:
    proc = subprocess.run(
        [tool("zizmor"), "--offline", "--config", str(ZIZMOR_CONFIG), str(ACTION), str(TEMPLATE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_flags_an_unpinned_third_party_action(tmp_path: Path) -> None:
    bad = tmp_path / "action.yml"
    text = ACTION.read_text()
    pinned = "github/codeql-action/upload-sarif@5d4e8d1aca955e8d8589aabd499c5cae939e33c7"
    assert pinned in text
    bad.write_text(text.replace(pinned, "github/codeql-action/upload-sarif@main"))
    proc = subprocess.run(
        [tool("zizmor"), "--offline", "--config", str(ZIZMOR_CONFIG), str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and "unpinned-uses" in proc.stdout


def run_check(repo: WorkRepo, tmp_path: Path):  # noqa: ANN201
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    return run_action(
        ACTION,
        workspace=repo.path,
        runner_temp=temp,
        inputs={"install": "false", "checkov": "false"},
        env={"PATH": f"{BIN}:/usr/bin:/bin"},
    )


def test_action_on_a_failing_repo_annotates_and_fails(tmp_path: Path) -> None:
    repo = failing_repo(tmp_path / "models-repo")
    result = run_check(repo, tmp_path)
    assert [s.name for s in result.steps if s.ran] == [
        "Validate configs (annotations on the pull request)",
        "Scan model artifacts (SARIF)",
        "Scan the repository for secrets (SARIF)",
        "Fail on invalid configs, unsafe artifacts or leaked secrets",
    ]
    validate = result.step("Validate")
    assert validate.exit_code == 0 and validate.outputs == {"exit-code": "1"}
    assert annotations(validate.stdout) == expected_annotations(repo.path)
    scan = result.step("Scan model")
    assert scan.outputs["exit-code"] == "1"
    sarif = json.loads(Path(scan.outputs["sarif-file"]).read_text())
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in sarif["runs"][0]["results"]
        if r["level"] == "error"
    }
    assert uris == {"weights/evil/model.pkl"}  # relative to the repository root
    assert not (repo.path / "pwned").exists()
    upload = result.step("Upload scan")
    assert upload.uses and upload.uses.startswith("github/codeql-action/upload-sarif@")
    assert upload.with_["sarif_file"] == scan.outputs["sarif-file"]
    assert result.step("Fail on").exit_code == 1 and result.failed


def test_action_on_a_passing_repo_succeeds(tmp_path: Path) -> None:
    repo = passing_repo(tmp_path / "models-repo")
    result = run_check(repo, tmp_path)
    validate, scan = result.step("Validate"), result.step("Scan model")
    assert validate.outputs == {"exit-code": "0"} and validate.stdout == ""
    assert scan.outputs["exit-code"] == "0"
    assert Path(scan.outputs["sarif-file"]).is_file()
    assert result.step("Upload scan").with_["category"] == "llm-platform-scan"
    secrets = result.step("Scan the repository")
    assert secrets.outputs["exit-code"] == "0" and "CLEAN" in secrets.stdout
    # The example weights' config carries sha256 digests: heuristic findings, reported only.
    results = json.loads(Path(secrets.outputs["sarif-file"]).read_text())["runs"][0]["results"]
    assert {r["ruleId"]: r["level"] for r in results} == {
        "secret-hex-high-entropy-string": "warning"
    }
    upload = result.step("Upload secret scan")
    assert upload.uses == result.step("Upload scan").uses
    assert upload.with_ == {
        "sarif_file": secrets.outputs["sarif-file"],
        "category": "llm-platform-scan-secrets",
    }
    assert not result.step("Check Dockerfile").ran  # checkov: "false"
    assert result.step("Fail on").exit_code == 0 and not result.failed


def test_action_fails_on_a_leaked_secret_without_printing_it(tmp_path: Path) -> None:
    repo = passing_repo(tmp_path / "models-repo")
    planted = plant_secrets(repo, "mistral-7b")
    repo.commit("leak")
    result = run_check(repo, tmp_path)
    assert result.step("Validate").outputs == {"exit-code": "0"}
    secrets = result.step("Scan the repository")
    assert secrets.outputs["exit-code"] == "1"
    sarif_text = Path(secrets.outputs["sarif-file"]).read_text()
    located = {
        (
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
        )
        for r in json.loads(sarif_text)["runs"][0]["results"]
        if r["level"] == "error"
    }
    assert located == set(planted.places.values())
    everything = sarif_text + "".join(s.stdout + s.stderr for s in result.steps)
    for value in planted.values:
        assert value not in everything
    assert result.step("Fail on").exit_code == 1 and result.failed


def test_checkov_that_cannot_run_fails_the_action(tmp_path: Path) -> None:
    """checkov runs outside llm-platform's venv: when it is missing the step fails (closed)."""
    repo = passing_repo(tmp_path / "models-repo")
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    result = run_action(
        ACTION,
        workspace=repo.path,
        runner_temp=temp,
        inputs={"install": "false", "checkov": "path"},
        env={"PATH": f"{BIN}:/usr/bin:/bin"},  # no checkov on it
    )
    step = result.step("Check Dockerfile")
    assert step.ran and step.exit_code == 127, step.stderr
    assert "checkov: command not found" in step.stderr
    # Models not registered yet are previewed from their in-repo sources, so checkov gets
    # their manifests too (none is skipped with a warning).
    assert "::warning::manifests for" not in step.stdout, step.stdout
    rendered = sorted(p.name for p in (temp / "llm-platform-manifests").glob("*.yaml"))
    assert "staging-mistral-7b.yaml" in rendered and "production-mistral-7b.yaml" in rendered
    assert not result.step("Upload checkov").ran
    assert result.step("Fail on").exit_code == 0 and result.failed
