"""Render a ScanReport as SARIF 2.1.0 for code-scanning dashboards."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from llm_platform.security.rules import RULES

if TYPE_CHECKING:
    from llm_platform.security.report import ScanReport

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


def report_to_sarif(report: ScanReport) -> dict[str, Any]:
    """Build the SARIF log: one run, every rule of the catalogue, one result per finding.

    Args:
        report: The scan report.

    Returns:
        A JSON-serializable SARIF 2.1.0 log; result locations are URIs relative to the root.
    """
    rule_ids = list(RULES)
    rules = [
        {
            "id": rule.id,
            "name": rule.name,
            "shortDescription": {"text": rule.description},
            "defaultConfiguration": {"level": _LEVELS[rule.severity]},
            "properties": {"severity": rule.severity},
        }
        for rule in RULES.values()
    ]
    results = []
    for finding in report.findings:
        location = {
            "physicalLocation": {
                "artifactLocation": {"uri": quote(finding.path), "uriBaseId": _BASE_ID}
            }
        }
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
                        "name": TOOL_NAME,
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
