"""The artifact manifest digest, pinned independently of ``llm_platform.common.digest``.

Every other test compares against ``digest_directory(...)`` itself, so a change of the format
would pass them all while every registered digest, approval and deployed revision stopped
matching. Here the digest is computed with ``hashlib`` from the format alone — sha256 over one
line ``"<file sha256>  <relative posix path>\\n"`` per regular file, in order of the path
(code point order of the UTF-8 string, so ``B`` < ``a`` and ``sub.txt`` < ``sub/x.bin``) — and
pinned as a literal.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from llm_platform.common.digest import digest_directory

FILES = {
    "a.txt": b"alpha\n",
    "B.txt": b"beta\n",
    "empty": b"",
    "sub.txt": b"not the directory\n",
    "sub/x.bin": bytes(range(256)),
    "sub/deeper/\u00e9t\u00e9.json": b'{"k": 1}\n',
}
PINNED = "c9e571af8578161f729e65e0ba72ed5cb0b71810fcf1562d08e5742466d6d328"


def write_files(root: Path) -> Path:
    for rel, data in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def manifest_digest_by_hand(files: dict[str, bytes]) -> str:
    lines = "".join(
        f"{hashlib.sha256(files[path]).hexdigest()}  {path}\n" for path in sorted(files)
    )
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def test_the_format_computed_by_hand_is_the_pinned_value() -> None:
    assert manifest_digest_by_hand(FILES) == PINNED


def test_digest_directory_matches_the_pinned_value(tmp_path: Path) -> None:
    manifest = digest_directory(write_files(tmp_path / "artifact"))
    assert manifest.digest == PINNED
    assert {f.path: (f.sha256, f.size) for f in manifest.files} == {
        path: (hashlib.sha256(data).hexdigest(), len(data)) for path, data in FILES.items()
    }


def test_the_digest_does_not_depend_on_where_the_directory_lives(tmp_path: Path) -> None:
    here = digest_directory(write_files(tmp_path / "one"))
    there = digest_directory(write_files(tmp_path / "two" / "nested"))
    assert here.digest == there.digest == PINNED


def test_a_single_file_is_named_by_its_own_name(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")
    assert digest_directory(path).digest == manifest_digest_by_hand({"model.gguf": b"GGUF"})
