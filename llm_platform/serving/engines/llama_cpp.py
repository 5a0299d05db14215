"""llama.cpp for GGUF models.

Locally: llama-cpp-python's OpenAI-compatible server (``python -m llama_cpp.server``), started
through the digest-verifying launcher. It serves one request at a time (one llama context), so
the gateway gives each replica one slot and queues the rest; ``serving.max_batch_size`` only
sizes the cluster server's parallel slots. Its own routes answer only between generations (they
wait for the model's lock), so the wrapper adds ``/health`` outside that lock, and ``/metrics``.

On a cluster: the upstream C++ ``llama-server`` image, which has ``/health`` and ``/metrics``.
"""

from __future__ import annotations

from llm_platform.serving.engines.base import (
    ArtifactFormat,
    ContainerSettings,
    ContainerSpec,
    Engine,
    EngineError,
    LaunchSettings,
    launcher_argv,
)
from llm_platform.serving.engines.detect import gguf_entry, gguf_files
from llm_platform.serving.engines.extensions import LLAMA_CPP_EXTENSIONS, LLAMA_CPP_MESSAGES
from llm_platform.serving.engines.llama_server import HEALTH_PATH as LOCAL_HEALTH_PATH
from llm_platform.serving.engines.llama_server import METRICS_PATH as LOCAL_METRICS_PATH

# llama_cpp.server behind a wrapper that picks a chat format for GGUFs without a template.
SERVER_MODULE = "llm_platform.serving.engines.llama_server"
# llama.cpp's server image, pinned by its index digest: a floating tag would change the engine
# under a running platform with no commit saying so. Move it by changing this line.
IMAGE = (
    "ghcr.io/ggml-org/llama.cpp:server"
    "@sha256:b832a7b7252a90a79a1e8d23d9be3ac5261a33224f60682dff0cade412fa55d3"
)
# llama.cpp's own default context when the config gives none.
DEFAULT_CONTEXT = 2048


class LlamaCppEngine(Engine):
    """llama.cpp (llama-cpp-python locally, llama-server in containers)."""

    name = "llama-cpp"
    formats = frozenset({ArtifactFormat.GGUF})
    # Added by the wrapper, outside the generation lock: a busy replica still answers.
    readiness_path = LOCAL_HEALTH_PATH
    metrics_path = LOCAL_METRICS_PATH  # added by the wrapper: Prometheus `up` for availability
    supports_streaming = True
    supports_chat = True
    default_slots = 1
    extensions = LLAMA_CPP_EXTENSIONS
    default_context_size = DEFAULT_CONTEXT
    # llama-cpp-python fails (500) on logprobs without logits_all, and indexes logit_bias ids
    # into the logits unchecked (an id beyond the vocabulary is a 500).
    logprobs = False
    logit_bias = False
    messages = LLAMA_CPP_MESSAGES

    def slots(self, max_batch_size: int | None) -> int | None:
        """One: llama-cpp-python holds one context and serves requests one after another."""
        return 1

    def missing_locally(self) -> list[str]:
        """llama-cpp-python must be installed (``make install`` builds it)."""
        import importlib.util

        if importlib.util.find_spec("llama_cpp") is None:
            return ["the llama-cpp-python package is not installed (run `make install`)"]
        return []

    @staticmethod
    def _model_file(files: list[str] | tuple[str, ...], where: str) -> str:
        entry = gguf_entry(files)
        if entry is None:
            raise EngineError(f"{where}: no single GGUF model file (or first shard) in {files}")
        return entry

    def local_argv(self, settings: LaunchSettings, *, python: str) -> list[str]:
        """The launcher verifying the artifact, then llama-cpp-python's server."""
        root = settings.artifact
        model_path = root / self._model_file(gguf_files(root), str(root))
        engine_args = [
            "--model",
            str(model_path),
            "--model_alias",
            settings.model,
            "--host",
            settings.host,
            "--port",
            str(settings.port),
            "--n_ctx",
            str(settings.context_size or DEFAULT_CONTEXT),
            "--n_threads",
            str(settings.threads),
            # By default a request that arrives during a stream (a health check, a concurrent
            # client) ends that stream at once with "[DONE]": streams would lose their tokens.
            "--interrupt_requests",
            "False",
        ]
        return launcher_argv(
            python,
            artifact=root,
            digest=settings.digest,
            module=SERVER_MODULE,
            engine_args=engine_args,
        )

    def container(self, settings: ContainerSettings) -> ContainerSpec:
        """``llama-server`` with one slot per batch entry, each with the full context."""
        # Only names are known here (the manifest): GGUF files carry the .gguf extension.
        names = [p for p in settings.model_files if p.lower().endswith(".gguf")]
        model_file = self._model_file(names, settings.model)
        slots = settings.max_batch_size or 1
        # llama-server splits --ctx-size across its slots.
        context = (settings.context_size or DEFAULT_CONTEXT) * slots
        return ContainerSpec(
            image=IMAGE,
            args=(
                "--model",
                f"{settings.model_dir}/{model_file}",
                "--alias",
                settings.model,
                "--host",
                "0.0.0.0",
                "--port",
                str(settings.port),
                "--ctx-size",
                str(context),
                "--parallel",
                str(slots),
                "--metrics",
            ),
            port=settings.port,
            readiness_path=self.readiness_path,  # llama-server has /health too
            metrics_path="/metrics",
            gpu=False,
        )
