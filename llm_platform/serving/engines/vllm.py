"""vLLM for Hugging Face safetensors models; needs an NVIDIA GPU.

On the local target a deployment is refused before anything starts when the machine has no
NVIDIA GPU or the ``vllm`` package is missing; the error names each missing piece.
"""

from __future__ import annotations

import glob
import importlib.util
import shutil
from collections.abc import Callable

from llm_platform.serving.engines.base import (
    ArtifactFormat,
    ContainerSettings,
    ContainerSpec,
    Engine,
    LaunchSettings,
    launcher_argv,
)
from llm_platform.serving.engines.extensions import VLLM_EXTENSIONS
from llm_platform.slo.profiles import VLLM_PROFILE

SERVER_MODULE = "vllm.entrypoints.openai.api_server"
# The upstream image, by tag for readers and by index digest for the registry (a tag can move).
IMAGE = (
    "vllm/vllm-openai:v0.10.2"
    "@sha256:607442e407b0fea97f8a132a78b787c121a996dd4de181fa08e8da06e71ec2db"
)


def nvidia_gpu_present() -> bool:
    """True when an NVIDIA device node exists or ``nvidia-smi`` is on PATH."""
    return bool(glob.glob("/dev/nvidia[0-9]*")) or shutil.which("nvidia-smi") is not None


def vllm_installed() -> bool:
    """True when the ``vllm`` package can be imported by this interpreter."""
    return importlib.util.find_spec("vllm") is not None


class VllmEngine(Engine):
    """vLLM's OpenAI-compatible server.

    Args:
        gpu_probe: Tells whether the machine has an NVIDIA GPU (replaceable in tests).
        package_probe: Tells whether vLLM is installed (replaceable in tests).
    """

    name = "vllm"
    formats = frozenset({ArtifactFormat.HF_SAFETENSORS})
    readiness_path = "/health"
    metrics_path = "/metrics"
    metric_profile = VLLM_PROFILE.name
    supports_streaming = True
    supports_chat = True
    extensions = VLLM_EXTENSIONS
    # vLLM refuses requests beyond the model's own max_model_len itself (400): this bound only
    # refuses absurd values at the gateway.
    default_context_size = 131_072
    max_prompts = 64
    token_prompts = True
    logprobs = True
    structured_output = True
    requires_gpu = True
    # vLLM's own --max-num-seqs default: sequences it batches at once (it queues the rest).
    default_slots = 256

    def __init__(
        self,
        *,
        gpu_probe: Callable[[], bool] = nvidia_gpu_present,
        package_probe: Callable[[], bool] = vllm_installed,
    ) -> None:
        self._gpu_probe = gpu_probe
        self._package_probe = package_probe

    def missing_locally(self) -> list[str]:
        """A GPU and the vllm package, each named when missing."""
        missing = []
        if not self._gpu_probe():
            missing.append("no NVIDIA GPU (no /dev/nvidia* device and no nvidia-smi on PATH)")
        if not self._package_probe():
            missing.append("the vllm package is not installed")
        return missing

    @staticmethod
    def _engine_args(
        model_dir: str, name: str, context: int | None, batch: int | None
    ) -> list[str]:
        args = ["--model", model_dir, "--served-model-name", name]
        if context is not None:
            args += ["--max-model-len", str(context)]
        if batch is not None:
            args += ["--max-num-seqs", str(batch)]
        return args

    def local_argv(self, settings: LaunchSettings, *, python: str) -> list[str]:
        """The launcher verifying the artifact, then vLLM's API server."""
        engine_args = self._engine_args(
            str(settings.artifact),
            settings.model,
            settings.context_size,
            settings.max_batch_size,
        )
        engine_args += ["--host", settings.host, "--port", str(settings.port)]
        return launcher_argv(
            python,
            artifact=settings.artifact,
            digest=settings.digest,
            module=SERVER_MODULE,
            engine_args=engine_args,
        )

    def container(self, settings: ContainerSettings) -> ContainerSpec:
        """The upstream ``vllm/vllm-openai`` image on one GPU."""
        args = self._engine_args(
            settings.model_dir, settings.model, settings.context_size, settings.max_batch_size
        )
        return ContainerSpec(
            image=IMAGE,
            args=(*args, "--port", str(settings.port)),
            port=settings.port,
            readiness_path=self.readiness_path,
            metrics_path=self.metrics_path,
            gpu=True,
        )
