"""Reference-free guards: failures any answer can show without a golden answer to compare.

An empty answer, a chat-template control token leaking into the text (a re-export with the
wrong template or tokenizer), and degenerate repetition (a damaged or over-quantized model
looping) fail a case whatever its expectation says.
"""

from __future__ import annotations

from enum import StrEnum


class Guard(StrEnum):
    """The guards; the value is what :attr:`CaseResult.guard_failures` lists."""

    EMPTY = "empty-output"
    TEMPLATE_TOKEN = "template-token"
    REPETITION = "repetition"


#: Control tokens of common chat templates (Gemma, ChatML, Llama 3, Llama 2 / Mistral, Phi,
#: sentencepiece); none belongs in generated text.
TEMPLATE_TOKENS = (
    "<start_of_turn>",
    "<end_of_turn>",
    "<bos>",
    "<eos>",
    "<start_of_image>",
    "<end_of_image>",
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "<|begin_of_text|>",
    "<|eot_id|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "[INST]",
    "[/INST]",
    "<<SYS>>",
    "</s>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|end|>",
)

#: Shortest output (characters, stripped) checked for repetition: short answers are exempt.
REPETITION_MIN_CHARS = 24
#: Longest repeating unit looked for, in characters.
REPETITION_MAX_PERIOD = 40
#: A unit repeated at least this many times in a row ...
REPETITION_MIN_REPEATS = 4
#: ... covering at least this fraction of the output is degenerate.
REPETITION_MIN_COVERAGE = 0.6


def leaked_tokens(output: str) -> list[str]:
    """The chat-template control tokens found in ``output``, in :data:`TEMPLATE_TOKENS` order."""
    return [token for token in TEMPLATE_TOKENS if token in output]


def repetition_coverage(output: str) -> float:
    """The fraction of ``output`` covered by its longest run of one repeated unit.

    Only runs of at least :data:`REPETITION_MIN_REPEATS` repeats of a unit of up to
    :data:`REPETITION_MAX_PERIOD` characters count ("the cat the cat the cat the cat",
    "!!!!!!!!"); 0.0 when there is none or the output is shorter than
    :data:`REPETITION_MIN_CHARS`.
    """
    text = output.strip()
    size = len(text)
    if size < REPETITION_MIN_CHARS:
        return 0.0
    best = 0
    for period in range(1, min(REPETITION_MAX_PERIOD, size // REPETITION_MIN_REPEATS) + 1):
        run = 0  # characters equal to the one `period` before, in a row
        for i in range(period, size):
            if text[i] == text[i - period]:
                run += 1
                span = run + period
                if span >= period * REPETITION_MIN_REPEATS and span > best:
                    best = span
            else:
                run = 0
    return best / size


def guard_failures(output: str) -> list[Guard]:
    """The guards ``output`` fails (empty list: it passes them all)."""
    if not output.strip():
        return [Guard.EMPTY]
    failed = []
    if leaked_tokens(output):
        failed.append(Guard.TEMPLATE_TOKEN)
    if repetition_coverage(output) >= REPETITION_MIN_COVERAGE:
        failed.append(Guard.REPETITION)
    return failed
