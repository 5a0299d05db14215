"""Recognise an artifact's format from its files' first bytes (never from names alone).

- GGUF: files starting with the GGUF magic (one model, or the shards of a split model).
- builtin demo LM: ``config.json`` whose ``architecture`` is the demo model's.
- Hugging Face safetensors: ``config.json`` plus ``*.safetensors`` files with a safetensors header.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from llm_platform.security.sniff import GGUF_MAGIC, looks_like_safetensors
from llm_platform.serving.engines.base import ArtifactFormat, NoEngineForArtifact

CONFIG_FILE = "config.json"
_SHARD = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$")
# config.json files are small; a bigger one is not a model config.
_MAX_CONFIG_BYTES = 1024 * 1024


def _head(path: Path, size: int = 16) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(size)


def _files(artifact: Path) -> list[Path]:
    if artifact.is_file():
        return [artifact]
    return sorted(p for p in artifact.rglob("*") if p.is_file() and not p.is_symlink())


def gguf_entry(relative_paths: list[str] | tuple[str, ...]) -> str | None:
    """The file llama.cpp is pointed at among an artifact's GGUF files.

    One GGUF file: that file. A split model (``name-00001-of-00003.gguf`` ...): the first
    shard (llama.cpp loads the others itself). Anything else: None (ambiguous or none).
    """
    ggufs = sorted(relative_paths)
    if len(ggufs) == 1:
        return ggufs[0]
    firsts = [p for p in ggufs if (m := _SHARD.search(p)) and m.group(1) == "00001"]
    return firsts[0] if len(firsts) == 1 else None


def gguf_files(artifact: Path) -> list[str]:
    """Paths (relative to the artifact root) of the files starting with the GGUF magic."""
    root = artifact if artifact.is_dir() else artifact.parent
    return [
        p.relative_to(root).as_posix()
        for p in _files(artifact)
        if _head(p, len(GGUF_MAGIC)) == GGUF_MAGIC
    ]


def _config_architecture(path: Path) -> object:
    if path.stat().st_size > _MAX_CONFIG_BYTES:
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return document.get("architecture") if isinstance(document, dict) else None


def detect_format(artifact: Path) -> ArtifactFormat:
    """The format of the model in ``artifact`` (a directory or a single file).

    Raises:
        NoEngineForArtifact: the path is missing, empty, ambiguous or holds no known format;
            the reason names what was found.
    """
    # Imported here: the demo model package pulls numpy, and the config schema imports this
    # package's registry at every CLI start.
    from llm_platform.demo_model.model import ARCHITECTURE

    if not artifact.exists():
        raise NoEngineForArtifact(artifact, "the path does not exist")
    files = _files(artifact)
    if not files:
        raise NoEngineForArtifact(artifact, "the directory holds no files")
    root = artifact if artifact.is_dir() else artifact.parent
    gguf = gguf_files(artifact)
    safetensors = [
        p
        for p in files
        if p.suffix == ".safetensors" and looks_like_safetensors(_head(p, 9), p.stat().st_size)
    ]
    config = root / CONFIG_FILE if artifact.is_dir() else None
    if gguf and safetensors:
        raise NoEngineForArtifact(artifact, "it mixes GGUF and safetensors weights")
    if gguf:
        if gguf_entry(gguf) is None:
            raise NoEngineForArtifact(
                artifact, f"several GGUF files that are not the shards of one model: {gguf}"
            )
        return ArtifactFormat.GGUF
    if config is not None and config.is_file():
        if _config_architecture(config) == ARCHITECTURE:
            return ArtifactFormat.BUILTIN_LM
        if safetensors:
            return ArtifactFormat.HF_SAFETENSORS
        raise NoEngineForArtifact(artifact, f"{CONFIG_FILE} but no *.safetensors weights")
    if safetensors:
        raise NoEngineForArtifact(
            artifact, f"*.safetensors weights without {CONFIG_FILE} (not a Hugging Face model)"
        )
    shown = [p.relative_to(root).as_posix() for p in files[:5]]
    raise NoEngineForArtifact(
        artifact, f"no GGUF, Hugging Face safetensors or builtin demo model among {shown}"
    )
