"""One artifact directory per engine format, as fixtures: the demo model's builtin weights, a
GGUF file, a Hugging Face (safetensors + config.json) directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from tests.helpers.gguf_fixtures import write_gguf
from tests.helpers.paths import DEMO_WEIGHTS


@pytest.fixture
def builtin_dir(tmp_path: Path) -> Path:
    """A copy of the demo model (the builtin engine's format)."""
    return Path(shutil.copytree(DEMO_WEIGHTS / "tiny-shakespeare", tmp_path / "builtin"))


@pytest.fixture
def gguf_dir(tmp_path: Path) -> Path:
    """A directory holding one well-formed GGUF file (llama.cpp's format)."""
    write_gguf(tmp_path / "gguf" / "model-q4.gguf")
    return tmp_path / "gguf"


@pytest.fixture
def hf_dir(tmp_path: Path) -> Path:
    """A Hugging Face directory: ``config.json`` naming an architecture, safetensors weights."""
    root = tmp_path / "hf"
    root.mkdir()
    (root / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    save_file({"w": np.zeros((2, 2), dtype=np.float32)}, str(root / "model.safetensors"))
    return root
