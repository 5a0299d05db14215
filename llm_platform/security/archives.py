"""Zip archives: PyTorch checkpoints (``archive/data.pkl``), .npz files, joblib zips.

Members are read with picklescan's relaxed zip reader, which ignores flags and CRCs the way
PyTorch's reader does, so a member that PyTorch would load is also scanned here. Every member
is sniffed; pickle and .npy members are scanned, unreadable members fail the scan.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO
from zipfile import ZipInfo

from picklescan.relaxed_zipfile import RelaxedZipFile

from llm_platform.security import rules
from llm_platform.security.pickles import (
    is_npy_member,
    is_pickle_name,
    scan_npy_data,
    scan_pickle_data,
    scan_sniffed_data,
    sniffs_like_pickle,
)
from llm_platform.security.report import Finding, Kind
from llm_platform.security.sniff import HEAD_SIZE


def _archive_error(rel: str, message: str, member: str | None = None) -> Finding:
    return Finding(
        path=rel,
        rule=rules.ARCHIVE_ERROR,
        severity="high",
        message=message,
        detail={"member": member} if member else {},
    )


def scan_zip_file(path: Path, rel: str, *, strict: bool = False) -> tuple[Kind, list[Finding]]:
    """Scan every member of a zip archive for pickled code.

    Args:
        path: The archive on disk.
        rel: Its path relative to the scan root.
        strict: Report unknown pickle globals as ``high``.

    Returns:
        ``pytorch-zip`` when a member holds pickle data (else ``other``) and the findings.
    """
    findings: list[Finding] = []
    pickled = False
    with open(path, "rb") as handle:
        try:
            archive = RelaxedZipFile(handle, "r")
        except Exception as exc:  # noqa: BLE001 - BadZipFile, OSError, struct.error, ...
            return "other", [_archive_error(rel, f"not a readable zip archive: {exc}")]
        with archive:
            infos = [info for info in archive.infolist() if not info.is_dir()]
            for info in infos:

                def opener(info: ZipInfo = info) -> IO[bytes]:
                    return archive.open(info, "r")

                try:
                    with opener() as member:
                        head = member.read(HEAD_SIZE)
                    if is_npy_member(info.filename, head):
                        has_objects, member_findings = scan_npy_data(
                            opener,
                            end=info.file_size,
                            rel=rel,
                            member=info.filename,
                            strict=strict,
                        )
                        pickled = pickled or has_objects
                    elif is_pickle_name(info.filename):
                        pickled = True
                        member_findings = scan_pickle_data(
                            opener,
                            start=0,
                            end=info.file_size,
                            rel=rel,
                            member=info.filename,
                            strict=strict,
                        )
                    elif sniffs_like_pickle(head):
                        sniffed = scan_sniffed_data(
                            opener,
                            end=info.file_size,
                            rel=rel,
                            member=info.filename,
                            strict=strict,
                        )
                        pickled = pickled or sniffed is not None
                        member_findings = sniffed or []
                    else:
                        member_findings = []
                except Exception as exc:  # noqa: BLE001 - zlib.error, encrypted, truncated, ...
                    member_findings = [
                        _archive_error(
                            rel,
                            f"zip member {info.filename} cannot be read: {exc}",
                            info.filename,
                        )
                    ]
                findings.extend(member_findings)
    if not pickled and not findings:
        findings.append(
            Finding(
                path=rel,
                rule=rules.FILE_INFO,
                severity="info",
                message=f"zip archive with {len(infos)} member(s), none holds pickle data",
                detail={"members": len(infos)},
            )
        )
    return ("pytorch-zip" if pickled else "other"), findings
