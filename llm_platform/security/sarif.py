"""Render a ScanReport as SARIF 2.1.0 for code-scanning dashboards."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from llm_platform.security.rules import RULES, Rule


class SarifFinding(Protocol):
    """The fields of a :class:`llm_platform.security.report.Finding` that SARIF renders."""

    @property
    def path(self) -> str: ...
    @property
    def rule(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def detail(self) -> Mapping[str, Any]: ...


class SarifReport(Protocol):
    """The fields of a :class:`llm_platform.security.report.ScanReport` that SARIF renders
    (declared here so that this module does not import the report module that calls it)."""

    @property
    def root(self) -> str: ...
    @property
    def safe(self) -> bool: ...
    @property
    def summary(self) -> Mapping[str, int]: ...
    @property
    def scanner_versions(self) -> Mapping[str, str]: ...
    @property
    def findings(self) -> Sequence[SarifFinding]: ...


SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
TOOL_NAME = "llm-platform-scan"
_LEVELS = {"critical": "error", "high": "error", "medium": "warning", "info": "note"}
_BASE_ID = "SCANROOT"


def _base_uri(root: str) -> str:
    base = Path(root)
    if base.is_file():
        base = base.parent
    return base.as_uri().rstrip("/") + "/"


def report_to_sarif(
    report: SarifReport,
    *,
    rules_catalogue: Mapping[str, Rule] = RULES,
    tool_name: str = TOOL_NAME,
) -> dict[str, Any]:
    """Build the SARIF log: one run, every rule of the catalogue, one result per finding.

    Args:
        report: The scan report.
        rules_catalogue: The rules the findings name (the artifact scan's by default; the
            repository scan passes its own).
        tool_name: The SARIF driver name (one analysis per tool in code scanning).

    Returns:
        A JSON-serializable SARIF 2.1.0 log; result locations are URIs relative to the root.
    """
    rule_ids = list(rules_catalogue)
    rules = [
        {
            "id": rule.id,
            "name": rule.name,
            "shortDescription": {"text": rule.description},
            "defaultConfiguration": {"level": _LEVELS[rule.severity]},
            "properties": {"severity": rule.severity},
        }
        for rule in rules_catalogue.values()
    ]
    results = []
    for finding in report.findings:
        physical: dict[str, Any] = {
            "artifactLocation": {"uri": quote(finding.path), "uriBaseId": _BASE_ID}
        }
        line = finding.detail.get("line")
        if isinstance(line, int) and line > 0:
            physical["region"] = {"startLine": line}
        location = {"physicalLocation": physical}
        results.append(
            {
                "ruleId": finding.rule,
                "ruleIndex": rule_ids.index(finding.rule),
                "level": _LEVELS[finding.severity],
                "message": {"text": finding.message},
                "locations": [location],
                "properties": {"severity": finding.severity, **finding.detail},
            }
        )
    version = report.scanner_versions.get("llm-platform", "unknown")
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": tool_name,
                        "version": version,
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {_BASE_ID: {"uri": _base_uri(report.root)}},
                "results": results,
                "properties": {"safe": report.safe, "summary": report.summary},
            }
        ],
    }
