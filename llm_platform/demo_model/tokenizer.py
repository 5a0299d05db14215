"""Character tokenizer of the demo model: one token per character of a fixed vocabulary."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llm_platform.demo_model.errors import ModelLoadError

TOKENIZER_TYPE = "char"
TOKENIZER_VERSION = 1

# Typographic characters that commonly appear in prompts, folded to their ASCII equivalents.
_FOLD = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2026": "...",
    "\t": " ",
    "\r": "",
}


class CharTokenizer:
    """Maps text to character ids and back.

    Characters outside the vocabulary are folded (typographic quotes and dashes to ASCII,
    accents stripped, letters tried in the other case) and otherwise become the unknown token,
    which is a character of the vocabulary (a space by default), so every prompt is encodable.
    """

    def __init__(self, chars: Sequence[str], unk: str = " ") -> None:
        """Create a tokenizer.

        Args:
            chars: The vocabulary, one single character per entry, no duplicates.
            unk: The vocabulary character that stands for unknown characters.

        Raises:
            ValueError: If the vocabulary is empty, has duplicates or multi-character entries,
                or does not contain ``unk``.
        """
        chars = list(chars)
        if not chars:
            raise ValueError("vocabulary is empty")
        if any(len(c) != 1 for c in chars):
            raise ValueError("every vocabulary entry must be exactly one character")
        if len(set(chars)) != len(chars):
            raise ValueError("vocabulary has duplicate characters")
        if unk not in chars:
            raise ValueError(f"unknown token {unk!r} is not in the vocabulary")
        self.chars: list[str] = chars
        self.unk = unk
        self._index = {c: i for i, c in enumerate(chars)}
        self.unk_id = self._index[unk]

    @classmethod
    def from_text(cls, text: str, unk: str = " ") -> CharTokenizer:
        """Build the vocabulary from the distinct characters of ``text``, in code point order."""
        return cls(sorted(set(text)), unk=unk)

    @property
    def vocab_size(self) -> int:
        """Number of tokens in the vocabulary."""
        return len(self.chars)

    def _fold(self, ch: str) -> str:
        if ch in self._index:
            return ch
        if ch in _FOLD:
            return _FOLD[ch]
        if ch.swapcase() in self._index:
            return ch.swapcase()
        stripped = "".join(
            c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)
        )
        if stripped and all(c in self._index for c in stripped):
            return stripped
        return self.unk

    def encode(self, text: str) -> list[int]:
        """Encode text to token ids; characters outside the vocabulary are folded or unknown."""
        ids: list[int] = []
        for ch in text:
            folded = self._fold(ch)
            ids.extend(self._index.get(c, self.unk_id) for c in folded)
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Decode token ids back to text."""
        return "".join(self.chars[i] for i in ids)

    def to_json(self) -> str:
        """Serialize to the ``tokenizer.json`` text (stable bytes for the same vocabulary)."""
        doc = {
            "type": TOKENIZER_TYPE,
            "version": TOKENIZER_VERSION,
            "unk": self.unk,
            "vocab": self.chars,
        }
        return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=True) + "\n"

    @classmethod
    def load(cls, path: Path) -> CharTokenizer:
        """Read a ``tokenizer.json`` file.

        Raises:
            ModelLoadError: If the file is missing, is not JSON, or does not describe a
                character vocabulary.
        """
        doc = read_json_object(path)
        if doc.get("type") != TOKENIZER_TYPE:
            raise ModelLoadError(f"{path}: field 'type' must be {TOKENIZER_TYPE!r}")
        if doc.get("version") != TOKENIZER_VERSION:
            raise ModelLoadError(f"{path}: field 'version' must be {TOKENIZER_VERSION}")
        vocab = doc.get("vocab")
        unk = doc.get("unk")
        if not isinstance(vocab, list) or not all(isinstance(c, str) for c in vocab):
            raise ModelLoadError(f"{path}: field 'vocab' must be a list of strings")
        if not isinstance(unk, str):
            raise ModelLoadError(f"{path}: field 'unk' must be a string")
        try:
            return cls(vocab, unk=unk)
        except ValueError as exc:
            raise ModelLoadError(f"{path}: {exc}") from exc


def read_json_object(path: Path) -> dict[str, Any]:
    """Read a JSON object from ``path``, raising ModelLoadError naming the file on failure."""
    if not path.is_file():
        raise ModelLoadError(f"{path}: file is missing")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise ModelLoadError(f"{path}: top level must be a JSON object")
    return doc
