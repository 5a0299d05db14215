"""Structured scan results: findings per file and the report over a scanned root."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from llm_platform.security.rules import BLOCKING_SEVERITIES, ERROR_RULES, SEVERITIES, Severity

Kind = Literal["pickle", "pytorch-zip", "safetensors", "gguf", "json", "text", "other"]
Status = Literal["clean", "unsafe", "error"]


class Finding(BaseModel):
    """One observation about one file.

    Attributes:
        path: File path relative to the scanned root (posix separators).
        rule: Rule identifier from ``llm_platform.security.rules.RULES``.
        severity: ``critical`` and ``high`` findings make the file unsafe (or errored).
        message: One line naming what is wrong and where.
        detail: Machine-readable specifics (zip member, global, offsets, ...).
    """

    path: str
    rule: str
    severity: Severity
    message: str
    detail: dict[str, Any] = Field(default_factory=dict)


class FileResult(BaseModel):
    """The verdict on one file."""

    path: str
    size: int
    kind: Kind
    status: Status
    findings: list[Finding] = Field(default_factory=list)


class ScanReport(BaseModel):
    """The verdict over a file or directory tree.

    ``safe`` is true only when every file is clean: an unsafe file or a file that could not be
    scanned makes the whole report unsafe (the gate fails closed).
    """

    root: str
    safe: bool
    files: list[FileResult]
    summary: dict[str, int]
    scanner_versions: dict[str, str]

    @property
    def findings(self) -> list[Finding]:
        """All findings of all files, in file order."""
        return [finding for file in self.files for finding in file.findings]

    def bad_files(self) -> list[FileResult]:
        """Files whose status is ``unsafe`` or ``error``."""
        return [file for file in self.files if file.status != "clean"]

    def to_json(self) -> str:
        """Serialize the report as indented JSON."""
        return self.model_dump_json(indent=2)

    def to_sarif(self) -> dict[str, Any]:
        """Render the report as a SARIF 2.1.0 log (a JSON-serializable dict)."""
        from llm_platform.security.sarif import report_to_sarif

        return report_to_sarif(self)


def file_status(findings: list[Finding]) -> Status:
    """Derive a file's status from its findings: unsafe beats error beats clean.

    Args:
        findings: The findings of the file.

    Returns:
        ``unsafe`` when a blocking finding shows a threat, ``error`` when a blocking finding
        says the file could not be scanned (``ERROR_RULES``), else ``clean``.
    """
    blocking = [f for f in findings if f.severity in BLOCKING_SEVERITIES]
    if any(f.rule not in ERROR_RULES for f in blocking):
        return "unsafe"
    if blocking:
        return "error"
    return "clean"


def build_report(
    root: str, files: list[FileResult], scanner_versions: dict[str, str]
) -> ScanReport:
    """Assemble a report and its summary counts from per-file results.

    Args:
        root: The absolute scanned root.
        files: Every scanned file's result.
        scanner_versions: Versions of the tools used.

    Returns:
        The report; ``safe`` is false when any file is unsafe or errored.
    """
    summary = {
        "files": len(files),
        "clean": sum(1 for f in files if f.status == "clean"),
        "unsafe": sum(1 for f in files if f.status == "unsafe"),
        "errors": sum(1 for f in files if f.status == "error"),
    }
    for severity in SEVERITIES:
        summary[severity] = sum(
            1 for f in files for finding in f.findings if finding.severity == severity
        )
    safe = summary["unsafe"] == 0 and summary["errors"] == 0
    return ScanReport(
        root=root, safe=safe, files=files, summary=summary, scanner_versions=scanner_versions
    )
