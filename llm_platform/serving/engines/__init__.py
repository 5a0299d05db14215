"""Inference engines behind one interface (``base.Engine``) and their registry.

``llama-cpp`` serves GGUF files, ``vllm`` Hugging Face safetensors directories (NVIDIA GPU),
``builtin`` the bundled demo LM. See ``registry`` for selection and command lines.
"""

from __future__ import annotations

from llm_platform.serving.engines.base import (
    ArtifactFormat,
    ContainerSettings,
    ContainerSpec,
    Engine,
    EngineError,
    EngineFormatMismatch,
    EngineUnavailable,
    LaunchSettings,
    NoEngineForArtifact,
    UnknownEngine,
    local_threads,
)
from llm_platform.serving.engines.detect import detect_format
from llm_platform.serving.engines.registry import (
    ENGINE_NAMES,
    ENGINES,
    check_engine_name,
    choose_engine,
    get_engine,
    launch_argv,
)

__all__ = [
    "ENGINES",
    "ENGINE_NAMES",
    "ArtifactFormat",
    "ContainerSettings",
    "ContainerSpec",
    "Engine",
    "EngineError",
    "EngineFormatMismatch",
    "EngineUnavailable",
    "LaunchSettings",
    "NoEngineForArtifact",
    "UnknownEngine",
    "check_engine_name",
    "choose_engine",
    "detect_format",
    "get_engine",
    "launch_argv",
    "local_threads",
]
