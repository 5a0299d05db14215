"""DESIGN.md's layer rule, checked two ways: import-linter contracts and a direct AST scan."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN_IN_CORE = ("dagster", "dagster_k8s", "dagster_aws", "assets", "sensors", "resources")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_never_imports_dagster_or_outer_layers():
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imports(p) & set(FORBIDDEN_IN_CORE))
        for p in (ROOT / "llm_platform").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_resources_never_import_assets_or_sensors():
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imports(p) & {"assets", "sensors"})
        for p in (ROOT / "resources").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_import_linter_contracts_hold():
    out = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 kept, 0 broken" in out.stdout
