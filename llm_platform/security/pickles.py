"""Pickle-based model files: plain pickles, legacy and zip PyTorch checkpoints, object .npy.

Nothing here unpickles. Pickle streams are disassembled twice: once by ``pickletools.genops``
to prove the whole stream parses (picklescan reports an unparseable stream without globals as
clean, so this check makes the scan fail closed), and once by picklescan to classify every
imported global as innocuous, suspicious or dangerous.
"""

from __future__ import annotations

import io
import pickletools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import PurePosixPath
from typing import IO, Any, cast

from picklescan.scanner import SafetyLevel, ScanResult, scan_pickle_bytes
from picklescan.torch import MAGIC_NUMBER

from llm_platform.security import rules
from llm_platform.security.report import Finding
from llm_platform.security.sniff import NUMPY_MAGIC, looks_like_pickle

Opener = Callable[[], AbstractContextManager[IO[bytes]]]

# Pickle data up to this size is read into memory once and disassembled from there.
IN_MEMORY_LIMIT = 64 * 1024 * 1024
# torch.load of a legacy (pre-1.6, non-zip) checkpoint unpickles exactly five pickles: magic
# number, protocol version, system info, the object, the storage keys; raw storages follow.
_LEGACY_TORCH_PICKLES = 5


class CappedReader:
    """A read-only view of ``raw`` that never reads past ``end``.

    Length fields in a hostile pickle may claim exabytes; capping every read at the bytes that
    really remain keeps the disassembler from allocating them.
    """

    def __init__(self, raw: IO[bytes], end: int) -> None:
        self._raw = raw
        self._end = end
        # Tracked here: BufferedReader.tell() costs a system call, and genops reads per opcode.
        self._pos = raw.tell()

    def _left(self, n: int | None) -> int:
        left = max(0, self._end - self._pos)
        return left if n is None or n < 0 else min(n, left)

    def read(self, n: int | None = -1) -> bytes:
        """Read up to ``n`` bytes (all that remain when negative)."""
        data = self._raw.read(self._left(n))
        self._pos += len(data)
        return data

    def readline(self, limit: int | None = -1) -> bytes:
        """Read one line, not past the end."""
        data = self._raw.readline(self._left(limit))
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        """Move within the underlying stream."""
        self._pos = self._raw.seek(offset, whence)
        return self._pos

    def tell(self) -> int:
        """The position in the underlying stream."""
        return self._pos


@contextmanager
def _open_pickle(opener: Opener, start: int, end: int, data: bytes | None) -> Iterator[IO[bytes]]:
    """A stream over the pickle bytes: in memory when already read, else a capped view."""
    if data is not None:
        yield io.BytesIO(data)
        return
    with opener() as raw:
        raw.seek(start)
        yield cast(IO[bytes], CappedReader(raw, end))


def _is_legacy_torch(stream: IO[bytes]) -> bool:
    """True when the first pickle holds nothing but PyTorch's legacy magic number."""
    ops = []
    try:
        for opcode, arg, _pos in pickletools.genops(stream):
            ops.append((opcode.name, arg))
            if len(ops) > 4:
                return False
    except Exception:  # noqa: BLE001 - not parseable means "not the magic pickle"
        return False
    values = [arg for name, arg in ops if "INT" in name or "LONG" in name]
    return values == [MAGIC_NUMBER]


def _disassemble(stream: IO[bytes], limit: int | None) -> tuple[int, str | None]:
    """Walk consecutive pickles until the end (or ``limit`` pickles) without executing them.

    Returns:
        The number of complete pickles and an error message when the stream does not parse.
    """
    start = stream.tell()
    count = 0
    while limit is None or count < limit:
        begin = stream.tell()
        if count > 0 and limit is None and not stream.read(1):
            break
        stream.seek(begin)
        try:
            for _ in pickletools.genops(stream):
                pass
        except Exception as exc:  # noqa: BLE001 - every disassembly failure is reported
            where = f"byte {begin - start}" if count else "the start"
            return count, f"pickle #{count + 1} at {where} does not parse: {exc}"
        count += 1
    return count, None


def _global_findings(
    result: ScanResult, rel: str, member: str | None, strict: bool
) -> tuple[list[Finding], list[str]]:
    findings: list[Finding] = []
    innocuous: list[str] = []
    seen: set[tuple[str, str]] = set()
    where = f" (zip member {member})" if member else ""
    for glob in result.globals:
        key = (glob.module, glob.name)
        if key in seen:
            continue
        seen.add(key)
        qualified = f"{glob.module}.{glob.name}"
        detail: dict[str, Any] = {"module": glob.module, "name": glob.name}
        if member:
            detail["member"] = member
        if glob.safety is SafetyLevel.Dangerous:
            findings.append(
                Finding(
                    path=rel,
                    rule=rules.PICKLE_DANGEROUS_GLOBAL,
                    severity="critical",
                    message=f"pickle imports dangerous global '{qualified}'{where}: loading "
                    "this file can execute it",
                    detail=detail,
                )
            )
        elif glob.safety is SafetyLevel.Suspicious:
            findings.append(
                Finding(
                    path=rel,
                    rule=rules.PICKLE_UNKNOWN_GLOBAL,
                    severity="high" if strict else "medium",
                    message=f"pickle imports unknown global '{qualified}'{where}",
                    detail=detail,
                )
            )
        else:
            innocuous.append(qualified)
    return findings, sorted(innocuous)


def scan_pickle_data(
    opener: Opener,
    *,
    start: int,
    end: int,
    rel: str,
    member: str | None = None,
    strict: bool = False,
) -> list[Finding]:
    """Scan the pickle stream(s) in ``[start, end)`` of the stream that ``opener`` opens.

    Args:
        opener: Opens a fresh binary stream (called twice: validation, then picklescan).
        start: Where the pickle data begins (e.g. after an .npy header).
        end: Where the stream ends.
        rel: The file's path relative to the scan root, for findings.
        member: The zip member holding the pickle, if any.
        strict: Report globals that are neither known safe nor dangerous as ``high``.

    Returns:
        Findings: dangerous/unknown globals, a parse error (fail closed), and an info finding.
    """
    findings, _parsed = _scan_pickle(opener, start, end, rel, member, strict)
    return findings


def scan_sniffed_data(
    opener: Opener, *, end: int, rel: str, member: str | None = None, strict: bool = False
) -> list[Finding] | None:
    """Scan data taken for a pickle only by its first bytes (no pickle extension or name).

    Such data that does not parse and imports no global cannot run anything when unpickled
    (e.g. an int16 tensor whose first value is 128 starts with the bytes of a PROTO opcode),
    so it is not treated as a pickle. Anything else is scanned exactly like a pickle.

    Returns:
        The findings, or ``None`` when the data is not a pickle after all.
    """
    findings, parsed = _scan_pickle(opener, 0, end, rel, member, strict)
    return findings if parsed else None


def _scan_pickle(
    opener: Opener, start: int, end: int, rel: str, member: str | None, strict: bool
) -> tuple[list[Finding], bool]:
    """Returns the findings and whether the data is a pickle (parses, or imports globals)."""
    file_id = f"{rel}:{member}" if member else rel
    data = None
    if end - start <= IN_MEMORY_LIMIT:
        with opener() as raw:
            raw.seek(start)
            data = raw.read(end - start)
    with _open_pickle(opener, start, end, data) as stream:
        begin = stream.tell()
        legacy = _is_legacy_torch(stream)
        stream.seek(begin)
        limit = _LEGACY_TORCH_PICKLES if legacy else None
        count, error = _disassemble(stream, limit)
    with _open_pickle(opener, start, end, data) as stream:
        if legacy:
            result = ScanResult([])
            for _ in range(min(_LEGACY_TORCH_PICKLES, count + (1 if error else 0))):
                result.merge(scan_pickle_bytes(stream, file_id, multiple_pickles=False))
        else:
            result = scan_pickle_bytes(stream, file_id, multiple_pickles=True)
    parsed = not (error or result.scan_err) or bool(result.globals)
    findings, innocuous = _global_findings(result, rel, member, strict)
    base: dict[str, Any] = {"member": member} if member else {}
    if error is None and result.scan_err:
        error = "picklescan could not disassemble the whole stream"
    if error is not None:
        findings.append(
            Finding(
                path=rel,
                rule=rules.PICKLE_PARSE_ERROR,
                severity="high",
                message=f"{error}{f' (zip member {member})' if member else ''}; the file "
                "cannot be proven safe",
                detail={**base, "pickles_parsed": count},
            )
        )
    layout = "legacy torch.save" if legacy else "pickle"
    findings.append(
        Finding(
            path=rel,
            rule=rules.PICKLE_CONTENT,
            severity="info",
            message=f"{layout} data, {count} pickle(s){f' in {member}' if member else ''}; "
            "prefer safetensors",
            detail={**base, "format": layout, "pickles": count, "safe_globals": innocuous},
        )
    )
    return findings, parsed


def scan_npy_data(
    opener: Opener, *, end: int, rel: str, member: str | None = None, strict: bool = False
) -> tuple[bool, list[Finding]]:
    """Scan a .npy array: its pickled payload when the dtype holds Python objects.

    Returns:
        Whether the array holds pickled objects, and the findings.
    """
    import numpy as np  # deferred: only .npy files need it

    fmt = np.lib.format
    try:
        with opener() as raw:
            version = fmt.read_magic(raw)
            if version == (1, 0):
                _shape, _order, dtype = fmt.read_array_header_1_0(raw)
            elif version in ((2, 0), (3, 0)):
                _shape, _order, dtype = fmt.read_array_header_2_0(raw)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
            start = raw.tell()
    except Exception as exc:  # noqa: BLE001 - reported, fails the scan
        where = f" (zip member {member})" if member else ""
        return True, [
            Finding(
                path=rel,
                rule=rules.PICKLE_PARSE_ERROR,
                severity="high",
                message=f"cannot read the .npy header{where}: {exc}",
                detail={"member": member} if member else {},
            )
        ]
    if not dtype.hasobject:
        return False, [
            Finding(
                path=rel,
                rule=rules.FILE_INFO,
                severity="info",
                message=f"numpy array of dtype {dtype} (no pickled objects)",
                detail={"member": member, "dtype": str(dtype)} if member else {"dtype": str(dtype)},
            )
        ]
    return True, scan_pickle_data(
        opener, start=start, end=end, rel=rel, member=member, strict=strict
    )


def is_pickle_name(name: str) -> bool:
    """Whether a zip member's name says pickle (``data.pkl``, ``constants.pkl``, ...)."""
    return PurePosixPath(name).suffix.lower() in (".pkl", ".pickle")


def sniffs_like_pickle(head: bytes) -> bool:
    """Whether data starts like a pickle (PROTO magic, or a protocol 0/1 opcode sequence)."""
    return looks_like_pickle(head)


def is_npy_member(name: str, head: bytes) -> bool:
    """Whether a zip member is a .npy array (as in .npz archives)."""
    return PurePosixPath(name).suffix.lower() == ".npy" or head.startswith(NUMPY_MAGIC)
