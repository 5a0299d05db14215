"""The engine registry: adding an engine is one module plus one entry in ``_ENGINES``.

Everything else (the ``serving.engine`` values the config accepts, automatic selection from an
artifact's format, the local command line, the container spec) derives from this registry.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from llm_platform.serving.engines.base import (
    Engine,
    EngineFormatMismatch,
    LaunchSettings,
    NoEngineForArtifact,
    UnknownEngine,
)
from llm_platform.serving.engines.builtin import BuiltinEngine
from llm_platform.serving.engines.detect import detect_format
from llm_platform.serving.engines.extensions import Extension
from llm_platform.serving.engines.llama_cpp import LlamaCppEngine
from llm_platform.serving.engines.vllm import VllmEngine

# Order matters only for automatic selection: the first engine loading a format wins.
_ENGINES: tuple[Engine, ...] = (LlamaCppEngine(), VllmEngine(), BuiltinEngine())

ENGINES: dict[str, Engine] = {engine.name: engine for engine in _ENGINES}
ENGINE_NAMES: tuple[str, ...] = tuple(ENGINES)
#: Every engine extension's name -> the engines that accept it.
EXTENSION_ENGINES: dict[str, tuple[str, ...]] = {
    name: tuple(e.name for e in _ENGINES if any(x.name == name for x in e.extensions))
    for name in sorted({x.name for e in _ENGINES for x in e.extensions})
}


def get_engine(name: str) -> Engine:
    """The registered engine called ``name``.

    Raises:
        UnknownEngine: naming the known engines.
    """
    try:
        return ENGINES[name]
    except KeyError:
        raise UnknownEngine(name, ENGINE_NAMES) from None


def check_engine_name(name: str) -> str:
    """Validate a ``serving.engine`` value (raises ValueError listing the known names)."""
    if name not in ENGINES:
        raise ValueError(f"{name!r} is not an engine; use one of: {', '.join(ENGINE_NAMES)}")
    return name


def check_extension_name(name: str) -> str:
    """Validate a ``serving.extensions`` entry (raises ValueError listing the known names)."""
    if name not in EXTENSION_ENGINES:
        known = ", ".join(EXTENSION_ENGINES)
        raise ValueError(f"{name!r} is not an extension of any engine; known: {known}")
    return name


def enabled_extensions(engine: str, environment: Iterable[str] = ()) -> dict[str, Extension]:
    """The extensions of ``engine`` the gateway forwards: its defaults plus the ones the
    environment enables (``serving.extensions``); unknown engine: none."""
    wanted = set(environment)
    found = ENGINES.get(engine)
    extensions = found.extensions if found is not None else ()
    return {x.name: x for x in extensions if x.default or x.name in wanted}


def choose_engine(artifact: Path, configured: str | None = None) -> Engine:
    """The engine that serves ``artifact``: the configured one, else the first that loads it.

    Args:
        artifact: The artifact directory (or file).
        configured: ``serving.engine`` from the model config, if set.

    Raises:
        UnknownEngine: ``configured`` is not registered.
        NoEngineForArtifact: the format is not recognised or no engine loads it.
        EngineFormatMismatch: the configured engine does not load the artifact's format.
    """
    fmt = detect_format(artifact)
    if configured is not None:
        engine = get_engine(configured)
        if fmt not in engine.formats:
            raise EngineFormatMismatch(engine.name, fmt, engine.formats)
        return engine
    for engine in _ENGINES:
        if fmt in engine.formats:
            return engine
    raise NoEngineForArtifact(artifact, f"no registered engine loads {fmt.value} artifacts")


def launch_argv(
    engine_name: str | None,
    settings: LaunchSettings,
    *,
    python: str,
    check_local: bool = True,
) -> list[str]:
    """The local command line serving ``settings.artifact`` with its (configured) engine.

    The argv verifies the artifact against ``settings.digest`` before the engine loads it.

    Args:
        engine_name: ``serving.engine`` (None: chosen from the artifact's format).
        settings: What to serve and how (see :class:`LaunchSettings`).
        python: The interpreter of this installation.
        check_local: Refuse engines this machine cannot run (before anything starts).

    Raises:
        EngineError: unknown engine, no engine for the format, a mismatch, or (with
            ``check_local``) :class:`EngineUnavailable` naming what is missing.
    """
    engine = choose_engine(settings.artifact, engine_name)
    if check_local:
        engine.check_local()
    return engine.local_argv(settings, python=python)
