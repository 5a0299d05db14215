"""The layer rule of docs/architecture.md, checked two ways (import-linter contracts and a
direct AST scan), no import cycle inside llm_platform, and one way for tests to import their
helpers."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

from tests.helpers.paths import REPO_ROOT

ROOT = REPO_ROOT
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
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    summary = re.search(r"Contracts: (\d+) kept, (\d+) broken", out.stdout)
    assert summary, out.stdout
    assert (int(summary[1]), int(summary[2])) == (len(declared["contracts"]), 0), out.stdout


def import_cycles(graph: grimp.ImportGraph, package: str) -> list[list[str]]:
    """Every strongly connected group of modules under ``package`` (Tarjan), as one cycle each:
    the modules of the group in import order, starting from its smallest name."""
    modules = sorted(m for m in graph.modules if m == package or m.startswith(package + "."))
    inside = set(modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & inside) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group: set[str] = set()
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.add(top)
                if top == node:
                    break
            if len(group) > 1 or node in edges[node]:
                groups.append(group)

    for module in modules:
        if module not in index:
            visit(module)
    cycles = []
    for group in groups:
        start = min(group)
        back = next(m for m in sorted(group) if start in edges[m])
        chain = graph.find_shortest_chain(importer=start, imported=back) or (start,)
        cycles.append([*chain, start])
    return sorted(cycles)


def test_no_import_cycle_inside_llm_platform():
    graph = grimp.build_graph("llm_platform")
    cycles = import_cycles(graph, "llm_platform")
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_cycle_finder_names_a_cycle():
    graph = grimp.ImportGraph()
    for module in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(module)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.a")
    graph.add_import(importer="pkg.c", imported="pkg.a")
    assert import_cycles(graph, "pkg") == [["pkg.a", "pkg.b", "pkg.a"]]


def test_tests_import_their_helpers_one_way():
    """``tests.x_fixtures`` only: importing ``x_fixtures`` too would load the module twice
    (two copies of its globals and classes)."""
    helpers = {p.stem for p in (ROOT / "tests").glob("*_fixtures.py")}
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imports(p) & helpers)
        for p in (ROOT / "tests").glob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
