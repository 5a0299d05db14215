"""The demo language model at inference time: loading, generation and scoring."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict
from safetensors import SafetensorError
from safetensors.numpy import load_file

from llm_platform.demo_model.errors import ModelLoadError
from llm_platform.demo_model.ngram import MAX_ORDER, check_tensors
from llm_platform.demo_model.tokenizer import CharTokenizer, read_json_object

ARCHITECTURE = "char-ngram-kn"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
WEIGHTS_FILE = "model.safetensors"


class Generation(BaseModel):
    """The result of one generation request.

    ``text`` is the completion only (not the prompt), cut before the first stop sequence.
    ``completion_tokens`` counts every generated token, including those of a matched stop
    sequence that were removed from ``text``.
    """

    model_config = ConfigDict(frozen=True)

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: Literal["length", "stop"]


class DemoLM:
    """A character n-gram language model with interpolated Kneser-Ney smoothing."""

    def __init__(
        self,
        *,
        config: dict[str, Any],
        tokenizer: CharTokenizer,
        tensors: dict[str, np.ndarray],
    ) -> None:
        """Create a model from its parts (use :func:`load` to read a model directory).

        Args:
            config: The ``config.json`` document; needs ``order``.
            tokenizer: The character tokenizer.
            tensors: The tensors described in :mod:`llm_platform.demo_model.ngram`.

        Raises:
            ValueError: If the tensors do not fit the order or the vocabulary.
        """
        self.config = config
        self.tokenizer = tokenizer
        self.order = int(config["order"])
        vocab = tokenizer.vocab_size
        check_tensors(tensors, self.order, vocab)
        self.parameter_count = int(sum(t.size for t in tensors.values()))
        self._vocab = vocab
        self._unigram = tensors["unigram.prob"].astype(np.float64)
        self._rows: list[dict[int, int]] = [{}]
        self._offset: list[list[int]] = [[]]
        self._backoff: list[list[float]] = [[]]
        self._next: list[np.ndarray] = [np.zeros(0, dtype=np.intp)]
        self._prob: list[np.ndarray] = [np.zeros(0)]
        for k in range(1, self.order):
            keys = tensors[f"order{k}.context"].tolist()
            self._rows.append({key: row for row, key in enumerate(keys)})
            self._offset.append(tensors[f"order{k}.offset"].tolist())
            self._backoff.append(tensors[f"order{k}.backoff"].astype(np.float64).tolist())
            self._next.append(tensors[f"order{k}.next"].astype(np.intp))
            self._prob.append(tensors[f"order{k}.prob"].astype(np.float64))
        self._powers = [vocab**j for j in range(self.order)]
        pad = "\n" if "\n" in tokenizer.chars else tokenizer.unk
        self._bos = tokenizer.encode(pad) * (self.order - 1)

    @property
    def info(self) -> dict[str, Any]:
        """Architecture, order, vocabulary size, parameter count and provenance."""
        return {
            "architecture": self.config.get("architecture", ARCHITECTURE),
            "order": self.order,
            "context_length": self.order - 1,
            "vocab_size": self._vocab,
            "parameter_count": self.parameter_count,
            "corpus_sha256": self.config.get("corpus", {}).get("sha256"),
            "build_version": self.config.get("build_version"),
            "heldout_bits_per_char": self.config.get("heldout_bits_per_char"),
        }

    def distribution(self, context: Sequence[int]) -> np.ndarray:
        """Next-token probabilities (float64, sums to 1) after the given context ids."""
        p = self._unigram.copy()
        key = 0
        n = len(context)
        for k in range(1, min(self.order - 1, n) + 1):
            key += context[n - k] * self._powers[k - 1]
            row = self._rows[k].get(key)
            if row is None:
                # A context missing at this length (e.g. only seen at the start of the corpus)
                # adds no evidence; longer contexts may still be known.
                continue
            start, end = self._offset[k][row], self._offset[k][row + 1]
            p *= self._backoff[k][row]
            p[self._next[k][start:end]] += self._prob[k][start:end]
        return p

    def _context(self, ids: list[int]) -> list[int]:
        return (self._bos + ids)[-(self.order - 1) :] if self.order > 1 else []

    def generate(
        self,
        prompt: str,
        *,
        max_tokens: int = 32,
        temperature: float = 0.0,
        seed: int | None = None,
        stop: list[str] | None = None,
    ) -> Generation:
        """Continue ``prompt`` by up to ``max_tokens`` characters.

        Args:
            prompt: Text to continue; characters outside the vocabulary are folded or become
                the unknown token; may be empty.
            max_tokens: Number of tokens to generate unless a stop sequence ends it first.
            temperature: 0 picks the most likely character (deterministic); above 0 samples
                from the distribution sharpened or flattened by ``1 / temperature``.
            seed: Seed of the sampler; the same seed gives the same text. ``None`` draws
                fresh entropy. Ignored at temperature 0.
            stop: Strings that end the completion; the completion is cut before the first one.

        Returns:
            The completion and its token counts.

        Raises:
            ValueError: On a negative ``max_tokens`` or ``temperature``, or an empty stop string.
        """
        if max_tokens < 0:
            raise ValueError(f"max_tokens must be >= 0, got {max_tokens}")
        if not math.isfinite(temperature) or temperature < 0:
            raise ValueError(f"temperature must be a finite number >= 0, got {temperature}")
        stops = list(stop or [])
        if any(not isinstance(s, str) or not s for s in stops):
            raise ValueError("stop sequences must be non-empty strings")
        tail = max((len(s) for s in stops), default=0)
        prompt_ids = self.tokenizer.encode(prompt)
        ctx = self._context(prompt_ids)
        rng = np.random.default_rng(seed) if temperature > 0 else None
        chars = self.tokenizer.chars
        out: list[str] = []
        for step in range(max_tokens):
            p = self.distribution(ctx)
            if rng is None:
                tok = int(np.argmax(p))
            else:
                tok = _sample(p, temperature, rng)
            out.append(chars[tok])
            if self.order > 1:
                ctx.append(tok)
                del ctx[0]
            if stops:
                recent = "".join(out[-tail:])
                for s in stops:
                    if recent.endswith(s):
                        text = "".join(out)
                        return Generation(
                            text=text[: len(text) - len(s)],
                            prompt_tokens=len(prompt_ids),
                            completion_tokens=step + 1,
                            finish_reason="stop",
                        )
        return Generation(
            text="".join(out),
            prompt_tokens=len(prompt_ids),
            completion_tokens=max_tokens,
            finish_reason="length",
        )

    def bits_per_char(self, text: str) -> float:
        """Mean negative log2-likelihood of ``text`` per character (lower is better).

        Uniform guessing scores ``log2(vocab_size)``. Empty text raises ValueError.
        """
        ids = self.tokenizer.encode(text)
        if not ids:
            raise ValueError("cannot score empty text")
        ctx = self._context([])
        logs = []
        for tok in ids:
            logs.append(math.log2(float(self.distribution(ctx)[tok])))
            if self.order > 1:
                ctx.append(tok)
                del ctx[0]
        return -math.fsum(logs) / len(ids)


def _sample(p: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    if temperature != 1.0:
        logits = np.log(p) / temperature
        q = np.exp(logits - logits.max())
    else:
        q = p
    cumulative = np.cumsum(q)
    tok = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    return min(tok, p.shape[0] - 1)


def load(model_dir: Path) -> DemoLM:
    """Load a model directory written by :func:`llm_platform.demo_model.build`.

    Reads only ``config.json``, ``tokenizer.json`` and ``model.safetensors`` (never pickle),
    and verifies the weights against the digest recorded in the config.

    Raises:
        ModelLoadError: Naming the file that is missing, corrupt or inconsistent.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelLoadError(f"{model_dir}: model directory does not exist")
    config_path = model_dir / CONFIG_FILE
    config = read_json_object(config_path)
    if config.get("architecture") != ARCHITECTURE:
        raise ModelLoadError(
            f"{config_path}: field 'architecture' must be {ARCHITECTURE!r}, "
            f"got {config.get('architecture')!r}"
        )
    if config.get("format_version") != FORMAT_VERSION:
        raise ModelLoadError(f"{config_path}: field 'format_version' must be {FORMAT_VERSION}")
    order = config.get("order")
    if not isinstance(order, int) or not 2 <= order <= MAX_ORDER:
        raise ModelLoadError(f"{config_path}: field 'order' must be an integer 2..{MAX_ORDER}")
    tok_path = model_dir / TOKENIZER_FILE
    tokenizer = CharTokenizer.load(tok_path)
    if config.get("vocab_size") != tokenizer.vocab_size:
        raise ModelLoadError(
            f"{tok_path}: vocabulary has {tokenizer.vocab_size} characters but "
            f"{config_path} field 'vocab_size' says {config.get('vocab_size')!r}"
        )
    weights_path = model_dir / WEIGHTS_FILE
    if not weights_path.is_file():
        raise ModelLoadError(f"{weights_path}: file is missing")
    try:
        tensors = load_file(weights_path)
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelLoadError(f"{weights_path}: not a readable safetensors file ({exc})") from exc
    digest = hashlib.sha256(weights_path.read_bytes()).hexdigest()
    if digest != config.get("weights_sha256"):
        raise ModelLoadError(
            f"{weights_path}: sha256 {digest} does not match {config_path} field "
            f"'weights_sha256' ({config.get('weights_sha256')!r})"
        )
    try:
        return DemoLM(config=config, tokenizer=tokenizer, tensors=tensors)
    except ValueError as exc:
        raise ModelLoadError(f"{weights_path}: {exc}") from exc
