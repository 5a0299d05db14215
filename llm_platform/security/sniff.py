"""Recognise file formats by their first bytes, never by executing them."""

from __future__ import annotations

import io
import pickletools
import re
import struct

HEAD_SIZE = 64 * 1024

ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
NUMPY_MAGIC = b"\x93NUMPY"
GGUF_MAGIC = b"GGUF"
# The maximum header size the reference safetensors implementation accepts.
SAFETENSORS_MAX_HEADER = 100_000_000

# Extensions whose usual loaders (torch.load, pickle.load, joblib.load, numpy.load with
# allow_pickle) unpickle the content.
PICKLE_EXTENSIONS = frozenset(
    {".pkl", ".pickle", ".bin", ".pt", ".pth", ".ckpt", ".joblib", ".npy"}
)

_IMPORT_OPCODES = frozenset({"GLOBAL", "INST", "STACK_GLOBAL"})
_CALL_OPCODES = frozenset({"REDUCE", "BUILD", "OBJ", "INST", "NEWOBJ", "NEWOBJ_EX"})
_DOTTED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def is_zip(head: bytes) -> bool:
    """True when the bytes start like a zip archive (torch.save, .npz, joblib zips)."""
    return head.startswith(ZIP_MAGICS)


def has_pickle_magic(head: bytes) -> bool:
    """True when the bytes start with a PROTO opcode for protocol 0-5."""
    return len(head) >= 2 and head[0] == 0x80 and head[1] <= 5


def _imports(name: str, arg: object) -> bool:
    if name == "STACK_GLOBAL":
        return True
    if name in ("GLOBAL", "INST") and isinstance(arg, str):
        return all(_DOTTED_NAME.fullmatch(part) for part in arg.split(" ", 1))
    return False


def looks_like_pickle(head: bytes) -> bool:
    """Sniff pickle data without magic bytes (protocol 0 and 1 have none).

    The sample is disassembled with ``pickletools.genops`` (which never executes anything). It
    is pickle data when disassembly reaches STOP, or when, before disassembly fails or the
    sample runs out, it imported a global by a valid dotted name and then called something:
    ``pickle.load`` would have executed that call before noticing anything wrong.

    Args:
        head: The first bytes of the file (a cut sample and a whole file are judged alike).

    Returns:
        Whether loaders that try unpickling would find (and run) a pickle here.
    """
    if has_pickle_magic(head):
        return True
    if not head:
        return False
    imported = called = False
    try:
        for opcode, arg, _pos in pickletools.genops(io.BytesIO(head)):
            imported = imported or _imports(opcode.name, arg)
            called = called or (imported and opcode.name in _CALL_OPCODES)
    except Exception:  # noqa: BLE001 - any disassembly failure ends the sniff
        return called
    return True


def looks_like_safetensors(head: bytes, size: int) -> bool:
    """True when the bytes start like a safetensors file: a u64 length, then a JSON object."""
    if len(head) < 9 or head[8:9] != b"{":
        return False
    (length,) = struct.unpack("<Q", head[:8])
    return 0 < length <= min(size - 8, SAFETENSORS_MAX_HEADER)


def looks_like_text(head: bytes, *, whole_file: bool) -> bool:
    """True when the bytes are UTF-8 without NUL bytes (a cut multi-byte tail is allowed)."""
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        cut_tail = exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
        return cut_tail and not whole_file
    return True
