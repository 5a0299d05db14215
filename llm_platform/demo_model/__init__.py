"""A small real language model the project builds itself, with no download.

A character n-gram model (interpolated Kneser-Ney) trained in about a second on a bundled
public-domain Shakespeare corpus, stored as ``model.safetensors`` + ``tokenizer.json`` +
``config.json``. The demo and the embedded model server serve it::

    from llm_platform.demo_model import build, load
    model = load(build(Path("weights/tiny-shakespeare")))
    model.generate("Shall I compare thee", max_tokens=32).text

Build from the command line: ``python -m llm_platform.demo_model build OUT_DIR [--seed N]``.
"""

from __future__ import annotations

from llm_platform.demo_model.errors import ModelLoadError
from llm_platform.demo_model.model import ARCHITECTURE, DemoLM, Generation, load
from llm_platform.demo_model.train import BUILD_VERSION, CORPUS_PATH, build

__all__ = [
    "ARCHITECTURE",
    "BUILD_VERSION",
    "CORPUS_PATH",
    "DemoLM",
    "Generation",
    "ModelLoadError",
    "build",
    "load",
]
