"""``scan_path``: walk a file or directory and give every file a verdict.

Dispatch is by extension where the loader decides by name (``.safetensors``, ``.gguf``,
``.json``, the pickle extensions) and by content everywhere else, so a pickle hidden under
an innocent name is still found. Symbolic links are never followed; a link whose target lies
outside the root (or dangles) fails the scan, because its target was not scanned.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from llm_platform.security import rules
from llm_platform.security.archives import scan_zip_file
from llm_platform.security.formats import check_gguf_magic, check_json, describe_other
from llm_platform.security.gguf import check_gguf_file
from llm_platform.security.pickles import (
    Opener,
    scan_npy_data,
    scan_pickle_data,
    scan_sniffed_data,
    sniffs_like_pickle,
)
from llm_platform.security.report import FileResult, Finding, Kind, ScanReport, build_report
from llm_platform.security.report import file_status as _status
from llm_platform.security.safetensors_check import check_safetensors
from llm_platform.security.sniff import (
    GGUF_MAGIC,
    HEAD_SIZE,
    NUMPY_MAGIC,
    PICKLE_EXTENSIONS,
    is_zip,
    looks_like_safetensors,
)


def scanner_versions(dists: tuple[str, ...] = ("llm-platform", "picklescan")) -> dict[str, str]:
    """Versions of this scanner and of the tools it relies on (``dists``: which packages)."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for dist in dists:
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            versions[dist] = "unknown"
    return versions


def _file_opener(path: Path) -> Opener:
    return lambda: open(path, "rb")


def _pickle_disguise(path: Path, rel: str, head: bytes, size: int, strict: bool) -> list[Finding]:
    """When a file fails its format check but holds pickle or zip data, say so and scan it."""
    if is_zip(head):
        content, findings = "a zip archive", scan_zip_file(path, rel, strict=strict)[1]
    elif sniffs_like_pickle(head):
        content = "pickle data"
        sniffed = scan_sniffed_data(_file_opener(path), end=size, rel=rel, strict=strict)
        if sniffed is None:
            return []
        findings = sniffed
    else:
        return []
    mismatch = Finding(
        path=rel,
        rule=rules.EXTENSION_MISMATCH,
        severity="high",
        message=f"content is {content}, not what the extension {path.suffix} says",
        detail={"extension": path.suffix},
    )
    return [mismatch, *findings]


def _classify_and_scan(path: Path, rel: str, size: int, strict: bool) -> tuple[Kind, list[Finding]]:
    with open(path, "rb") as handle:
        head = handle.read(HEAD_SIZE)
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        findings = check_safetensors(path, rel, size)
        if findings:
            findings += _pickle_disguise(path, rel, head, size, strict)
        return "safetensors", findings
    if suffix == ".gguf":
        findings = check_gguf_magic(head, rel)
        if findings:
            return "gguf", findings + _pickle_disguise(path, rel, head, size, strict)
        return "gguf", check_gguf_file(path, rel)
    if suffix == ".json":
        findings = check_json(path, rel)
        if findings:
            findings += _pickle_disguise(path, rel, head, size, strict)
        return "json", findings
    if is_zip(head):
        return scan_zip_file(path, rel, strict=strict)
    if head.startswith(NUMPY_MAGIC):
        has_objects, findings = scan_npy_data(_file_opener(path), end=size, rel=rel, strict=strict)
        return ("pickle" if has_objects else "other"), findings
    if head.startswith(GGUF_MAGIC):
        return "gguf", check_gguf_file(path, rel)
    if suffix in PICKLE_EXTENSIONS:
        return "pickle", scan_pickle_data(
            _file_opener(path), start=0, end=size, rel=rel, strict=strict
        )
    if looks_like_safetensors(head, size):
        return "safetensors", check_safetensors(path, rel, size)
    if sniffs_like_pickle(head):
        sniffed = scan_sniffed_data(_file_opener(path), end=size, rel=rel, strict=strict)
        if sniffed is not None:
            return "pickle", sniffed
    return describe_other(head, rel, size)


def _error_result(rel: str, size: int, rule: str, message: str, **detail: str) -> FileResult:
    finding = Finding(path=rel, rule=rule, severity="high", message=message, detail=detail)
    return FileResult(path=rel, size=size, kind="other", status="error", findings=[finding])


def _scan_entry(path: Path, root: Path, rel: str, strict: bool) -> FileResult:
    """Scan one directory entry that is not a directory (a file, link or special file)."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        target = Path(os.path.realpath(path))
        if not target.exists():
            message = f"dangling symlink to {os.readlink(path)}"
            return _error_result(rel, 0, rules.SYMLINK, message, target=str(target))
        if not target.is_relative_to(root):
            return _error_result(
                rel,
                0,
                rules.SYMLINK,
                f"symlink to {target}, outside the scanned root; its target was not scanned",
                target=str(target),
            )
        where = target.relative_to(root).as_posix()
        note = Finding(
            path=rel,
            rule=rules.SYMLINK,
            severity="info",
            message=f"symlink to {where} (scanned at that path, not followed)",
            detail={"target": where},
        )
        return FileResult(path=rel, size=0, kind="other", status="clean", findings=[note])
    if not stat.S_ISREG(info.st_mode):
        message = "not a regular file (FIFO, socket or device)"
        return _error_result(rel, 0, rules.UNREADABLE, message)
    try:
        kind, findings = _classify_and_scan(path, rel, info.st_size, strict)
    except OSError as exc:
        return _error_result(rel, info.st_size, rules.UNREADABLE, f"cannot read file: {exc}")
    except Exception as exc:  # noqa: BLE001 - reported as an error finding; the scan fails
        message = f"scanner failed on this file: {type(exc).__name__}: {exc}"
        return _error_result(rel, info.st_size, rules.SCANNER_ERROR, message)
    return FileResult(
        path=rel, size=info.st_size, kind=kind, status=_status(findings), findings=findings
    )


def _walk(directory: Path, root: Path, strict: bool, out: list[FileResult]) -> None:
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        rel = directory.relative_to(root).as_posix()
        out.append(_error_result(rel, 0, rules.UNREADABLE, f"cannot list directory: {exc}"))
        return
    for entry in entries:
        path = Path(entry.path)
        rel = path.relative_to(root).as_posix()
        if entry.is_dir(follow_symlinks=False):
            _walk(path, root, strict, out)
        else:
            out.append(_scan_entry(path, root, rel, strict))


def scan_path(path: Path, *, strict: bool = False) -> ScanReport:
    """Scan a model artifact (one file or a directory tree) for unsafe content.

    Nothing is unpickled or imported from the artifact; safetensors data is never read.

    Args:
        path: A file or directory. A directory is walked recursively; symbolic links inside it
            are not followed.
        strict: Treat pickle globals that are neither known safe nor known dangerous as
            ``high`` (unsafe) instead of ``medium``.

    Returns:
        The report; ``report.safe`` is false when any file is unsafe or could not be scanned.

    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    given = Path(path)
    if not given.exists():
        raise FileNotFoundError(f"scan path does not exist: {given}")
    resolved = given.resolve()
    files: list[FileResult] = []
    if resolved.is_dir():
        _walk(resolved, resolved, strict, files)
        root = resolved
    else:
        root = resolved.parent
        files.append(_scan_entry(resolved, root, resolved.name, strict))
    return build_report(str(resolved), files, scanner_versions())
