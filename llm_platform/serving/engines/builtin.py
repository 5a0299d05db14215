"""The bundled demo language model, served by ``llm_platform.serving.model_server``."""

from __future__ import annotations

from llm_platform.common.engine_names import BUILTIN_ENGINE
from llm_platform.serving.engines.base import (
    ArtifactFormat,
    ContainerSettings,
    ContainerSpec,
    Engine,
    LaunchSettings,
)
from llm_platform.serving.model_app import DEFAULT_MAX_SEQUENCE_LENGTH
from llm_platform.targets.kubernetes.image import platform_image

MODEL_SERVER_MODULE = "llm_platform.serving.model_server"


class BuiltinEngine(Engine):
    """The demo LM's own server; it verifies the artifact digest itself before loading."""

    name = BUILTIN_ENGINE
    formats = frozenset({ArtifactFormat.BUILTIN_LM})
    readiness_path = "/health"
    metrics_path = "/metrics"
    supports_streaming = True
    supports_chat = False
    default_context_size = DEFAULT_MAX_SEQUENCE_LENGTH

    def _server_args(
        self, *, artifact: str, digest: str, model: str, version: str, revision: str
    ) -> list[str]:
        return [
            "--artifact",
            artifact,
            "--expected-digest",
            digest,
            "--model",
            model,
            "--version",
            version,
            "--revision",
            revision,
        ]

    def local_argv(self, settings: LaunchSettings, *, python: str) -> list[str]:
        """``python -m llm_platform.serving.model_server ...`` on loopback."""
        return [
            python,
            "-m",
            MODEL_SERVER_MODULE,
            *self._server_args(
                artifact=str(settings.artifact),
                digest=settings.digest,
                model=settings.model,
                version=settings.version,
                revision=settings.revision,
            ),
            "--host",
            settings.host,
            "--port",
            str(settings.port),
        ]

    def container(self, settings: ContainerSettings) -> ContainerSpec:
        """The project's own image running the same server on the mounted artifact."""
        args = self._server_args(
            artifact=settings.model_dir,
            digest=settings.digest,
            model=settings.model,
            version=settings.version,
            revision=settings.revision,
        )
        return ContainerSpec(
            image=platform_image(),
            command=("python", "-m", MODEL_SERVER_MODULE),
            args=(*args, "--host", "0.0.0.0", "--port", str(settings.port)),
            port=settings.port,
            readiness_path=self.readiness_path,
            metrics_path=self.metrics_path,
            gpu=False,
        )
