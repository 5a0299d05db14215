"""The interface every inference engine implements, and the data its methods exchange.

An engine is pure data plus command construction: which artifact formats it loads, how to
start it on this machine (argv), how to tell it is ready, where its own metrics are, and which
container image + args a cluster runs. Nothing here starts a process.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from llm_platform.common.digest import Sha256Hex
from llm_platform.common.errors import PlatformError
from llm_platform.serving.engines.extensions import Extension, MessageRules


class ServingSettings(Protocol):
    """What engines read of a model config's ``serving`` block (``config.schema.Serving``;
    a protocol, so this package does not import the config package that validates against it)."""

    @property
    def engine(self) -> str | None: ...
    @property
    def max_sequence_length(self) -> int | None: ...
    @property
    def max_batch_size(self) -> int | None: ...


LOOPBACK = "127.0.0.1"
# Engines share the machine with the gateway, Prometheus and Dagster: never take more threads
# than this even on a large host.
MAX_LOCAL_THREADS = 8
# KServe's storage initializer puts the artifact here; plain Deployments mount it at the same path.
CONTAINER_MODEL_DIR = "/mnt/models"
CONTAINER_PORT = 8080
# Verifies an artifact's digest, then runs an engine module in the same process.
LAUNCH_MODULE = "llm_platform.serving.engines.launch"


class ArtifactFormat(StrEnum):
    """What kind of weights an artifact holds (detected from its files, never from its name)."""

    GGUF = "gguf"
    HF_SAFETENSORS = "hf-safetensors"
    BUILTIN_LM = "builtin-lm"


class EngineError(PlatformError):
    """Base class of engine selection and launch errors."""


class UnknownEngine(EngineError):
    """A configured engine name is not in the registry."""

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"unknown engine {name!r}; known engines: {', '.join(known)}")


class NoEngineForArtifact(EngineError):
    """No registered engine loads the artifact's format (or the format is not recognised)."""

    def __init__(self, artifact: Path, reason: str) -> None:
        self.artifact = artifact
        self.reason = reason
        super().__init__(f"{artifact}: no engine can serve this artifact: {reason}")


class EngineFormatMismatch(EngineError):
    """The configured engine does not load the artifact's format."""

    def __init__(self, engine: str, fmt: ArtifactFormat, accepted: frozenset[ArtifactFormat]):
        self.engine = engine
        self.format = fmt
        self.accepted = accepted
        names = ", ".join(sorted(accepted))
        super().__init__(
            f"serving.engine {engine!r} cannot load a {fmt.value} artifact (it loads: {names})"
        )


class EngineUnavailable(EngineError):
    """The engine cannot run on this machine; ``missing`` names each thing that is missing."""

    def __init__(self, engine: str, missing: list[str]) -> None:
        self.engine = engine
        self.missing = missing
        super().__init__(f"engine {engine!r} cannot run here: " + "; ".join(missing))


class LaunchSettings(BaseModel):
    """Everything a local engine command line is built from.

    Attributes:
        model: The served model name (clients send it as ``model``; engines use it as alias).
        artifact: The verified local copy of the artifact (a directory).
        digest: The artifact's registered manifest digest (hex), checked before the engine runs.
        context_size: ``serving.max_sequence_length`` (engine default when None).
        max_batch_size: ``serving.max_batch_size`` (engine default when None).
        threads: CPU threads the engine may use (see :func:`local_threads`).
    """

    model_config = ConfigDict(frozen=True)

    model: str = Field(min_length=1)
    version: str = Field(min_length=1)
    revision: str = Field(min_length=1)
    artifact: Path
    digest: Sha256Hex
    port: int = Field(ge=1, le=65535)
    host: str = LOOPBACK
    context_size: int | None = Field(default=None, ge=1)
    max_batch_size: int | None = Field(default=None, ge=1)
    threads: int = Field(default_factory=lambda: local_threads(), ge=1)

    @classmethod
    def for_model(
        cls,
        serving: ServingSettings | None,
        *,
        model: str,
        version: str,
        revision: str,
        artifact: Path,
        digest: str,
        port: int,
    ) -> LaunchSettings:
        """Settings from a model config's ``serving`` block (context, batch) and the revision."""
        return cls(
            model=model,
            version=version,
            revision=revision,
            artifact=artifact,
            digest=digest,
            port=port,
            context_size=serving.max_sequence_length if serving else None,
            max_batch_size=serving.max_batch_size if serving else None,
        )


class ContainerSettings(BaseModel):
    """What a cluster container spec is built from (the artifact is mounted, not local).

    Attributes:
        model_files: Paths of the artifact's files relative to its root (from the manifest).
    """

    model_config = ConfigDict(frozen=True)

    model: str = Field(min_length=1)
    version: str = Field(min_length=1)
    revision: str = Field(min_length=1)
    digest: Sha256Hex
    model_files: tuple[str, ...] = Field(min_length=1)
    context_size: int | None = Field(default=None, ge=1)
    max_batch_size: int | None = Field(default=None, ge=1)
    port: int = CONTAINER_PORT
    model_dir: str = CONTAINER_MODEL_DIR


class ContainerSpec(BaseModel):
    """The container a Kubernetes target runs for one engine (image, command, args, probes)."""

    model_config = ConfigDict(frozen=True)

    image: str
    command: tuple[str, ...] = ()
    args: tuple[str, ...]
    port: int
    readiness_path: str
    metrics_path: str | None
    gpu: bool


def local_threads(cpu_count: int | None = None) -> int:
    """CPU threads for a local engine: the usable CPUs minus one, at least 1, at most 8.

    One CPU stays free for the gateway, Prometheus and Dagster. ggml's threads wait for each
    other at every operation by spinning, so an oversubscribed engine collapses: on a loaded
    2-core VM, Gemma 3 270M took 144 s for 16 tokens with 2 threads and 33 s with 1.
    """
    if cpu_count is None:
        try:
            cpu_count = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            cpu_count = os.cpu_count() or 1
    return max(1, min(cpu_count - 1, MAX_LOCAL_THREADS))


class Engine(ABC):
    """One inference engine. Subclasses set the class attributes and build the commands.

    Attributes:
        name: The ``serving.engine`` value selecting it.
        formats: Artifact formats it loads.
        readiness_path: The health path: a GET that answers 200 once the local server can
            serve and keeps answering while it generates (the supervisor's liveness probe,
            the readiness probe on a cluster).
        default_slots: Requests one local replica serves at once when
            ``serving.max_batch_size`` is unset; the gateway queues the rest (None: no limit).
        metrics_path: Its own Prometheus metrics path, or None when it has none.
        metric_profile: The SLO metric profile of its native series (``slo.profiles``).
        supports_streaming: Answers ``stream: true`` with Server-Sent Events.
        supports_chat: Serves ``/v1/chat/completions``.
        requires_gpu: Cannot run without an NVIDIA GPU.
        extensions: Body fields beyond OpenAI's it accepts, each with its value check (the
            gateway refuses any other; see :mod:`~llm_platform.serving.engines.extensions`).
        default_context_size: Its context when ``serving.max_sequence_length`` is unset (the
            gateway answers 400 to a ``max_tokens`` beyond the context).
        max_prompts: Prompts one completions request may carry (a list of strings).
        token_prompts: Accepts prompts given as token ids.
        logprobs: Can return log probabilities (``logprobs``, ``top_logprobs``).
        logit_bias: Accepts ``logit_bias`` (it checks the token ids against its vocabulary).
        structured_output: Enforces ``response_format`` ``json_schema`` itself.
        messages: The chat messages it takes (roles, content parts).
    """

    name: str
    formats: frozenset[ArtifactFormat]
    readiness_path: str
    metrics_path: str | None
    metric_profile: str = "default"
    supports_streaming: bool
    supports_chat: bool
    requires_gpu: bool = False
    default_slots: int | None = None
    extensions: tuple[Extension, ...] = ()
    default_context_size: int
    max_prompts: int = 1
    token_prompts: bool = False
    logprobs: bool = False
    logit_bias: bool = True
    structured_output: bool = False
    messages: MessageRules = MessageRules()

    def slots(self, max_batch_size: int | None) -> int | None:
        """Concurrent requests the gateway sends one local replica (None: no limit).

        Args:
            max_batch_size: ``serving.max_batch_size`` of the revision (None when unset).
        """
        return max_batch_size or self.default_slots

    def missing_locally(self) -> list[str]:
        """What this machine lacks to run the engine (empty when it can run)."""
        return []

    def check_local(self) -> None:
        """Refuse before anything starts when the engine cannot run here.

        Raises:
            EngineUnavailable: naming everything that is missing.
        """
        missing = self.missing_locally()
        if missing:
            raise EngineUnavailable(self.name, missing)

    @abstractmethod
    def local_argv(self, settings: LaunchSettings, *, python: str) -> list[str]:
        """The argv that verifies the artifact's digest and then serves it on this machine.

        Args:
            settings: What to serve and how.
            python: The interpreter to run Python engines with.
        """

    @abstractmethod
    def container(self, settings: ContainerSettings) -> ContainerSpec:
        """The container image, command and args a Kubernetes target runs."""


def launcher_argv(
    python: str, *, artifact: Path, digest: str, module: str, engine_args: list[str]
) -> list[str]:
    """The command line that verifies ``artifact`` against ``digest``, then runs ``module``.

    See :mod:`llm_platform.serving.engines.launch`.
    """
    return [
        python,
        "-m",
        LAUNCH_MODULE,
        "--artifact",
        str(artifact),
        "--digest",
        digest,
        "--module",
        module,
        "--",
        *engine_args,
    ]
