"""Secret scan of a models repository: a directory, or the files of a commit.

detect-secrets' default plugins look at every tracked text file; a finding names its type,
file, line and detect-secrets' hash of the value, never the value. Findings listed in the
repository's ``.secrets.baseline`` (reviewed, not audited as real) are suppressed. Files over
``MAX_SCANNED_BYTES`` (weights) and binary files are skipped and counted.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from llm_platform.common.repo_layout import MODELS_DIR
from llm_platform.gitops.files import normalise_path
from llm_platform.gitops.repo import GitRepo
from llm_platform.gitops.runner import GitError, GitPathNotFoundError, run_git
from llm_platform.security.report import Finding
from llm_platform.security.rules import BLOCKING_SEVERITIES
from llm_platform.security.scanner import scanner_versions
from llm_platform.security.secret_rules import (
    BASELINE_INVALID,
    SECRETS_BASELINE,
    Baseline,
    BaselineError,
    parse_baseline,
    secret_rule_id,
    secret_rules,
)

#: Larger files are not read (weights; a secret hides in configs and code, not in tensors).
MAX_SCANNED_BYTES = 8 * 1024 * 1024
#: The SARIF driver name of the repository scan (its own code-scanning analysis).
REPO_SCAN_TOOL = "llm-platform-repo-scan"
_SNIFF_BYTES = 8192
_REGULAR_MODES = ("100644", "100755")


class RepoScanReport(BaseModel):
    """The secret findings over a repository (or the paths of one model at a commit)."""

    root: str
    commit: str | None = None
    paths: list[str] = Field(default_factory=list)
    files_scanned: int
    skipped: list[str] = Field(default_factory=list)
    suppressed: int = 0
    findings: list[Finding] = Field(default_factory=list)
    scanner_versions: dict[str, str] = Field(default_factory=dict)

    @property
    def safe(self) -> bool:
        """True when no finding blocks (heuristic findings are reported only)."""
        return not self.blocking()

    def blocking(self) -> list[Finding]:
        """Findings at a blocking severity."""
        return [f for f in self.findings if f.severity in BLOCKING_SEVERITIES]

    @property
    def summary(self) -> dict[str, int]:
        """Counts for tables, metadata and the SARIF run's properties."""
        return {
            "files_scanned": self.files_scanned,
            "files_skipped": len(self.skipped),
            "findings": len(self.findings),
            "blocking": len(self.blocking()),
            "suppressed_by_baseline": self.suppressed,
        }

    def to_json(self) -> str:
        """Serialize the report as indented JSON (no secret values: there are none in it)."""
        return self.model_dump_json(indent=2)

    def to_sarif(self) -> dict[str, Any]:
        """Render the report as a SARIF 2.1.0 log with the repository scan's rules."""
        from llm_platform.security.sarif import report_to_sarif

        return report_to_sarif(self, rules_catalogue=secret_rules(), tool_name=REPO_SCAN_TOOL)

    def markdown(self, limit: int = 50) -> str:
        """The findings as a Markdown table (type, file, line, severity, hash prefix)."""
        if not self.findings:
            return f"No secrets found in {self.files_scanned} file(s)."
        rows = ["| severity | type | file | line | hash |", "| --- | --- | --- | --- | --- |"]
        for f in self.findings[:limit]:
            cells = (
                f.severity,
                str(f.detail.get("secret_type", f.rule)),
                f"`{f.path}`",
                str(f.detail.get("line", "")),
                str(f.detail.get("hashed_secret", ""))[:12],
            )
            rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        if len(self.findings) > limit:
            rows.append(f"\n… and {len(self.findings) - limit} more")
        return "\n".join(rows)


def _is_text(path: Path) -> bool:
    with path.open("rb") as handle:
        return b"\0" not in handle.read(_SNIFF_BYTES)


def _utf8_path(root: Path, rel: str, recoded: Path) -> str:
    """``root/rel``, or a UTF-8 copy under ``recoded`` (detect-secrets skips undecodable files)."""
    data = (root / rel).read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        target = recoded / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(data.decode("utf-8", "replace"), encoding="utf-8")
        return str(target)
    return str(root / rel)


def _scan_files(root: Path, rels: list[str], baseline: Baseline) -> tuple[list[Finding], int]:
    from detect_secrets.core.scan import scan_file
    from detect_secrets.settings import default_settings

    rules = secret_rules()
    findings: list[Finding] = []
    suppressed = 0
    with default_settings(), tempfile.TemporaryDirectory(prefix="repo-scan-utf8-") as recoded:
        for rel in rels:
            for secret in scan_file(_utf8_path(root, rel, Path(recoded))):
                kind, line, digest = secret.type, secret.line_number, secret.secret_hash
                if baseline.covers(rel, kind, digest):
                    suppressed += 1
                    continue
                rule = rules[secret_rule_id(kind)]
                findings.append(
                    Finding(
                        path=rel,
                        rule=rule.id,
                        severity=rule.severity,
                        message=f"{kind} in {rel} line {line} (value withheld, hash {digest[:12]})",
                        detail={"line": line, "secret_type": kind, "hashed_secret": digest},
                    )
                )
    findings.sort(key=lambda f: (f.path, f.detail.get("line", 0), f.rule))
    return findings, suppressed


def _baseline(text: bytes | None, where: str) -> tuple[Baseline, list[Finding]]:
    if text is None:
        return Baseline(), []
    try:
        return parse_baseline(text, where), []
    except BaselineError as exc:
        rule = secret_rules()[BASELINE_INVALID]
        return Baseline(), [
            Finding(path=SECRETS_BASELINE, rule=rule.id, severity=rule.severity, message=str(exc))
        ]


def _report(
    scanned: Path, rels: list[str], skipped: list[str], baseline_text: bytes | None, **extra: Any
) -> RepoScanReport:
    baseline, problems = _baseline(baseline_text, SECRETS_BASELINE)
    findings, suppressed = _scan_files(scanned, rels, baseline)
    return RepoScanReport(
        files_scanned=len(rels),
        skipped=skipped,
        suppressed=suppressed,
        findings=problems + findings,
        scanner_versions=scanner_versions(("llm-platform", "detect-secrets")),
        **extra,
    )


def scan_directory(root: Path) -> RepoScanReport:
    """Scan every file under ``root`` (``.git`` excluded; symlinks are not followed).

    Args:
        root: The repository directory; its ``.secrets.baseline`` applies.

    Returns:
        The report; locations are relative to ``root``.
    """
    root = root.resolve()
    rels: list[str] = []
    skipped: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for filename in sorted(filenames):
            path = Path(dirpath) / filename
            rel = path.relative_to(root).as_posix()
            if rel == SECRETS_BASELINE:
                continue
            if path.is_symlink() or not path.is_file():
                skipped.append(rel)
            elif path.stat().st_size > MAX_SCANNED_BYTES or not _is_text(path):
                skipped.append(rel)
            else:
                rels.append(rel)
    baseline_file = root / SECRETS_BASELINE
    text = baseline_file.read_bytes() if baseline_file.is_file() else None
    return _report(root, rels, skipped, text, root=str(root))


def _tracked(repo: GitRepo, sha: str, paths: list[str]) -> list[tuple[str, str, int, str]]:
    """``(mode, path, size, object id)`` of every entry under ``paths`` at ``sha``."""
    args = ["ls-tree", "-r", "-l", "-z", sha, "--", *paths]
    out = run_git(repo.git_dir, args, where=repo.location).stdout
    entries = []
    for entry in out.split(b"\0"):
        meta, _, name = entry.partition(b"\t")
        fields = meta.decode().split()
        if len(fields) == 4:
            size = int(fields[3]) if fields[3].isdigit() else 0
            entries.append((fields[0], name.decode("utf-8", "surrogateescape"), size, fields[2]))
    return entries


def _blobs(repo: GitRepo, oids: list[str]) -> list[bytes]:
    """The contents of ``oids`` from one ``git cat-file --batch``."""
    if not oids:
        return []
    request = "".join(f"{oid}\n" for oid in oids).encode()
    args = ["cat-file", "--batch"]
    out = run_git(repo.git_dir, args, stdin=request, where=repo.location).stdout
    blobs, pos = [], 0
    for oid in oids:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        if len(header) != 3 or header[0].decode() != oid or header[1] != b"blob":
            raise GitError(f"{repo.location}: unexpected git cat-file output for {oid}")
        size = int(header[2])
        blobs.append(out[end + 1 : end + 1 + size])
        pos = end + 1 + size + 1
    return blobs


def scan_commit(repo: GitRepo, commit: str, paths: list[str] | None = None) -> RepoScanReport:
    """Scan the files of ``commit`` under ``paths`` (the whole tree when empty or ``None``).

    Only blobs are read (``git ls-tree`` / ``cat-file``): no checkout, no work tree. The
    baseline is the commit's ``.secrets.baseline``; symlinks and submodules are skipped.

    Raises:
        GitError: the commit does not exist or git failed.
    """
    sha = repo.resolve(commit)
    wanted = sorted({normalise_path(p) for p in paths or []})
    skipped: list[str] = []
    small: list[tuple[str, str]] = []
    for mode, rel, size, oid in _tracked(repo, sha, wanted):
        if rel == SECRETS_BASELINE:
            continue
        if mode not in _REGULAR_MODES or size > MAX_SCANNED_BYTES:
            skipped.append(rel)
        else:
            small.append((rel, oid))
    rels: list[str] = []
    with tempfile.TemporaryDirectory(prefix="repo-scan-") as scratch:
        root = Path(scratch)
        for (rel, _), data in zip(small, _blobs(repo, [oid for _, oid in small]), strict=True):
            if b"\0" in data[:_SNIFF_BYTES]:
                skipped.append(rel)
                continue
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            rels.append(rel)
        try:
            baseline_text: bytes | None = repo.read_file(sha, SECRETS_BASELINE)
        except GitPathNotFoundError:
            baseline_text = None
        where = str(repo.git_dir.resolve())
        return _report(root, rels, skipped, baseline_text, root=where, commit=sha, paths=wanted)


def model_scan_paths(name: str, source_type: str | None, source_uri: str | None) -> list[str]:
    """What a model's repository scan covers: ``models/<name>/`` and an in-repo source path."""
    paths = [f"{MODELS_DIR}/{name}"]
    if source_type == "local" and source_uri and not Path(source_uri).is_absolute():
        paths.append(normalise_path(source_uri))
    return paths


def check_metadata(report: RepoScanReport) -> dict[str, int | str]:
    """Counts and the Markdown findings table for a check's metadata (no secret values)."""
    return {**report.summary, "findings_table": report.markdown()}


class ModelSource(Protocol):
    """What the scan reads of a model config's ``source`` block (``config.schema.Source``; a
    protocol, so the security package does not import the config package)."""

    @property
    def type(self) -> str:
        """``s3``, ``huggingface`` or ``local``."""
        ...

    @property
    def uri(self) -> str:
        """Where the weights come from."""
        ...


def scan_model_commit(
    repo: GitRepo, commit: str, name: str, source: ModelSource | None
) -> RepoScanReport:
    """Scan model ``name``'s own files at ``commit`` (the registration check's scan).

    Raises:
        GitError: the commit does not exist or git failed.
    """
    paths = model_scan_paths(name, source.type if source else None, source.uri if source else None)
    return scan_commit(repo, commit, paths)
