"""File locations under the platform home and the command lines of the data-plane processes."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from llm_platform.common.engine_names import BUILTIN_ENGINE
from llm_platform.serving.engines import LaunchSettings, launch_argv
from llm_platform.targets.base import RevisionSpec

MODEL_SERVER_MODULE = "llm_platform.serving.model_server"
GATEWAY_MODULE = "llm_platform.serving.gateway"
CONTROLLER_MODULE = "llm_platform.targets.local.controller"


class Layout:
    """Where the runtime keeps logs, routes files and fault files under ``home``."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.logs = home / "logs"
        self.stack_file = home / "stack.json"
        self.artifact_cache = home / "artifact-cache"

    def revision_log(self, env: str, model: str, revision: str, replica: int = 0) -> Path:
        """Log of one model server replica (appended across restarts)."""
        suffix = f"-{replica}" if replica else ""
        return self.logs / env / model / f"{revision}{suffix}.log"

    def gateway_log(self, env: str) -> Path:
        """Log of an environment's gateway."""
        return self.logs / env / "gateway.log"

    def routes_file(self, env: str) -> Path:
        """The routes JSON an environment's gateway follows."""
        return self.home / "gateway" / env / "routes.json"

    def fault_file(self, env: str, model: str, revision: str) -> Path:
        """JSON ``{"latency_ms", "error_rate", "stall_ms", "cut_rate"}`` the gateway re-reads
        (fault injection into this revision)."""
        return self.home / "faults" / env / model / f"{revision}.json"

    @property
    def controller_log(self) -> Path:
        """Log of the controller loop."""
        return self.logs / "controller.log"


def default_python() -> str:
    """This environment's interpreter, spelled the same whichever entry point runs us.

    ``sys.executable`` is ``.../bin/python3`` under a console script and ``.../bin/python``
    under ``python -m``; a stable spelling keeps recorded command lines comparable.
    """
    candidate = Path(sys.prefix) / "bin" / "python"
    return str(candidate) if candidate.exists() else sys.executable


@dataclass(frozen=True)
class Commands:
    """Builds the exact argv of every process the runtime starts (also used for pid checks)."""

    python: str = field(default_factory=default_python)
    model_server_module: str = MODEL_SERVER_MODULE
    gateway_module: str = GATEWAY_MODULE

    def model_server(
        self, layout: Layout, env: str, model: str, rev: RevisionSpec, port: int, artifact: Path
    ) -> list[str]:
        """The model server command line for one revision serving the local copy ``artifact``.

        The builtin server verifies the digest itself; any other engine is started through the
        engines package's launcher, which verifies the digest before the engine loads a byte.

        Raises:
            EngineError: the engine cannot run here or does not load the artifact's format.
        """
        if rev.engine != BUILTIN_ENGINE:
            settings = LaunchSettings(
                model=model,
                version=rev.version,
                revision=rev.revision,
                artifact=artifact,
                digest=rev.digest,
                port=port,
                context_size=rev.context_size,
                max_batch_size=rev.max_batch_size,
            )
            return launch_argv(rev.engine, settings, python=self.python)
        argv = [
            self.python,
            "-m",
            self.model_server_module,
            "--artifact",
            str(artifact),
            "--expected-digest",
            rev.digest,
            "--model",
            model,
            "--version",
            rev.version,
            "--revision",
            rev.revision,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        if rev.context_size:  # serving.max_sequence_length: longer requests are a 400
            argv += ["--max-sequence-length", str(rev.context_size)]
        return argv

    def gateway(self, layout: Layout, env: str, port: int) -> list[str]:
        """The gateway command line for one environment."""
        return [
            self.python,
            "-m",
            self.gateway_module,
            "--routes",
            str(layout.routes_file(env)),
            "--namespace",
            env,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            # A stat() every 100 ms: traffic switches and drains take ~0.1 s instead of ~0.5 s.
            "--poll-interval",
            "0.1",
        ]

    def controller(self, home: Path, *, liveness_timeout_s: float) -> list[str]:
        """The controller loop command line."""
        return [
            self.python,
            "-m",
            CONTROLLER_MODULE,
            "--home",
            str(home),
            "--liveness-timeout",
            repr(float(liveness_timeout_s)),
        ]
