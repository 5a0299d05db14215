"""Building the demo model artifact from the bundled corpus, deterministically."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save_file

from llm_platform.demo_model import ngram
from llm_platform.demo_model.model import (
    ARCHITECTURE,
    CONFIG_FILE,
    FORMAT_VERSION,
    TOKENIZER_FILE,
    WEIGHTS_FILE,
    DemoLM,
)
from llm_platform.demo_model.tokenizer import CharTokenizer

# Bump when the training procedure changes in a way that changes the artifact bytes.
BUILD_VERSION = "1"
CORPUS_PATH = Path(__file__).resolve().parent / "corpus" / "shakespeare.txt"
CANDIDATE_ORDERS = (3, 4, 5, 6, 7)
HELDOUT_PER_256 = 38  # about 15% of the corpus blocks are held out to choose the order
# Prefer the smallest order within this many bits/char of the best: higher orders grow the
# artifact quickly while held-out gains on a corpus this small are within noise.
ORDER_TOLERANCE_BITS = 0.02


def training_text(raw: str) -> str:
    """The corpus text without its leading ``#`` header lines."""
    lines = raw.splitlines(keepends=True)
    start = 0
    while start < len(lines) and (lines[start].startswith("#") or not lines[start].strip()):
        start += 1
    return "".join(lines[start:])


def split_heldout(text: str, seed: int) -> tuple[str, str]:
    """Split ``text`` into (train, held-out) by blank-line separated blocks.

    Membership is decided by sha256 of ``seed`` and the block index, which stays the same
    across Python and numpy versions (unlike a library shuffle).
    """
    blocks = [b for b in text.split("\n\n") if b.strip()]
    if len(blocks) < 2:
        raise ValueError("corpus needs at least two blank-line separated blocks")
    scores = [hashlib.sha256(f"{seed}:{i}".encode()).digest()[0] for i in range(len(blocks))]
    held = {i for i, s in enumerate(scores) if s < HELDOUT_PER_256}
    if not held:
        held = {scores.index(min(scores))}
    if len(held) == len(blocks):
        held.discard(scores.index(max(scores)))
    train = "\n\n".join(b for i, b in enumerate(blocks) if i not in held) + "\n"
    heldout = "\n\n".join(b for i, b in enumerate(blocks) if i in held) + "\n"
    return train, heldout


def _fit(
    tokenizer: CharTokenizer, text: str, order: int
) -> tuple[DemoLM, dict[str, np.ndarray], list[float]]:
    ids = np.asarray(tokenizer.encode(text), dtype=np.int64)
    tensors, discounts = ngram.fit(ids, tokenizer.vocab_size, order)
    model = DemoLM(config={"order": order}, tokenizer=tokenizer, tensors=tensors)
    return model, tensors, discounts


def build(out_dir: Path, *, seed: int = 0) -> Path:
    """Train the demo model on the bundled corpus and write its artifact directory.

    The n-gram order is the smallest one whose bits per character on a held-out split
    (selected by ``seed``) is within ``ORDER_TOLERANCE_BITS`` of the best; the final model
    is then fitted on the whole corpus. The same seed always gives byte-identical files:
    ``model.safetensors``, ``tokenizer.json`` and ``config.json``.

    Args:
        out_dir: Directory to write (created if needed; the three files are overwritten).
        seed: Selects the held-out split used to choose the order.

    Returns:
        ``out_dir``.
    """
    out_dir = Path(out_dir)
    raw = CORPUS_PATH.read_bytes()
    text = training_text(raw.decode("ascii"))
    tokenizer = CharTokenizer.from_text(text)
    if tokenizer.vocab_size > ngram.MAX_VOCAB:
        raise ValueError(f"{CORPUS_PATH}: more than {ngram.MAX_VOCAB} distinct characters")

    train, heldout = split_heldout(text, seed)
    scores: dict[str, float] = {}
    for order in CANDIDATE_ORDERS:
        candidate, _, _ = _fit(tokenizer, train, order)
        # Rounded so the recorded value cannot differ in its last bits between libm builds.
        scores[str(order)] = round(candidate.bits_per_char(heldout), 4)
    lowest = min(scores.values())
    best = min(o for o in CANDIDATE_ORDERS if scores[str(o)] <= lowest + ORDER_TOLERANCE_BITS)

    final, tensors, discounts = _fit(tokenizer, text, best)

    out_dir.mkdir(parents=True, exist_ok=True)
    weights_path = out_dir / WEIGHTS_FILE
    save_file(tensors, str(weights_path), metadata={"format": "np"})
    weights_path.chmod(0o644)  # safetensors creates the file owner-only; servers may run as others
    (out_dir / TOKENIZER_FILE).write_text(tokenizer.to_json(), encoding="utf-8")
    config: dict[str, Any] = {
        "architecture": ARCHITECTURE,
        "format_version": FORMAT_VERSION,
        "build_version": BUILD_VERSION,
        "order": best,
        "context_length": best - 1,
        "vocab_size": tokenizer.vocab_size,
        "parameter_count": final.parameter_count,
        "discounts": [round(d, 6) for d in discounts],
        "seed": seed,
        "corpus": {
            "file": CORPUS_PATH.name,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "characters": len(text),
            "license": "public domain (works of William Shakespeare)",
        },
        "order_selection": {
            "candidates": list(CANDIDATE_ORDERS),
            "heldout_characters": len(heldout),
            "heldout_bits_per_char": scores,
            "tolerance_bits": ORDER_TOLERANCE_BITS,
        },
        "heldout_bits_per_char": scores[str(best)],
        "uniform_bits_per_char": round(float(np.log2(tokenizer.vocab_size)), 4),
        "weights_sha256": hashlib.sha256(weights_path.read_bytes()).hexdigest(),
    }
    (out_dir / CONFIG_FILE).write_text(
        json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return out_dir
