"""The demo's broken Gemma: 1.1.0, the packaged Q4_K_M re-quantized to Q2_K at demo time.

Nothing is downloaded: llama.cpp's quantizer (through llama-cpp-python) writes the Q2_K file
next to the assembled Q4_K_M one, under the operator-allowed models root. It is as fast as
1.0.0 and passes every latency objective; on the example suite it loses about half the cases
(measured: 20 kept, 20 lost, 0 gained), so ``output_quality`` holds it in staging.
"""

from __future__ import annotations

import json
from pathlib import Path

from llm_platform.common.fsutil import file_lock
from llm_platform.demo.gemma import (
    GEMMA_MODEL,
    ensure_gemma_artifact,
    gemma_models_root,
    render_gemma_model_yaml,
)
from llm_platform.evals.builds import requantize
from llm_platform.serving.engines.detect import gguf_entry, gguf_files

#: The re-quantized build's version in the demo, and its quantization.
BROKEN_VERSION = "1.1.0"
BROKEN_FTYPE = "Q2_K"


def gemma_q2k_dir(home: Path) -> Path:
    """Where the Q2_K build lives (a ``local`` source under the allowed models root)."""
    return gemma_models_root(home) / f"{GEMMA_MODEL}-{BROKEN_FTYPE.lower()}"


def ensure_gemma_q2k(home: Path) -> Path:
    """Build the Q2_K Gemma from the assembled Q4_K_M unless it is already there.

    Returns:
        The artifact directory (holding only the ``.gguf`` file).

    Raises:
        BuildError: llama-cpp-python is missing or the quantizer failed.
        ConfigurationError: the Gemma package is missing.
    """
    source_dir = ensure_gemma_artifact(home)
    entry = gguf_entry(gguf_files(source_dir))
    assert entry is not None, f"{source_dir}: no GGUF"  # ensure_gemma_artifact checked it
    dest = gemma_q2k_dir(home)
    target = dest / entry.replace("q4_k_m", BROKEN_FTYPE.lower())
    with file_lock(gemma_models_root(home) / f".{dest.name}.lock"):
        if not target.is_file():
            requantize(source_dir / entry, target, ftype=BROKEN_FTYPE)
    return dest


def broken_gemma_model_yaml(home: Path) -> str:
    """Gemma's ``model.yaml`` as version 1.1.0 with its source on the Q2_K build."""
    text = render_gemma_model_yaml(home)
    current = json.dumps(str(ensure_gemma_artifact(home).resolve()))
    return text.replace("version: 1.0.0", f"version: {BROKEN_VERSION}", 1).replace(
        current, json.dumps(str(gemma_q2k_dir(home).resolve()))
    )
