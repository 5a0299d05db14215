"""A pushed ``model.yaml`` checked: valid with what the record shows, or every problem.

An invalid config is still recorded by the pipeline (so the UI shows what was pushed and why it
is wrong); :class:`InvalidModelConfig` carries the problems for that record, and
:class:`ValidModelConfig` the version, config hash and resource request.
"""

from __future__ import annotations

from dataclasses import dataclass

from llm_platform.config.loading import parse_model_config
from llm_platform.config.problems import ConfigError, Problem
from llm_platform.config.schema import ModelConfig


@dataclass(frozen=True)
class ValidModelConfig:
    """The config passed the schema and the rules."""

    config: ModelConfig

    @property
    def config_hash(self) -> str:
        """The canonical hash of the config (its data version)."""
        return self.config.config_hash()

    def summary(self) -> dict[str, str | float | int]:
        """What the record shows of the config: version, hash, architecture, resources, source."""
        cfg = self.config
        return {
            "version": cfg.version,
            "config_hash": self.config_hash,
            "architecture": cfg.architecture,
            "memory_gb": float(cfg.resources.memory_gb),
            "gpu_count": cfg.resources.gpu_count,
            "gpu_type": cfg.resources.gpu_type or "",
            "source": f"{cfg.source.type}:{cfg.source.uri}" if cfg.source else "",
        }


@dataclass(frozen=True)
class InvalidModelConfig:
    """The config is invalid: every problem (file, line, field, message)."""

    problems: list[Problem]

    @property
    def lines(self) -> list[str]:
        """One line per problem."""
        return [str(p) for p in self.problems]

    @property
    def markdown(self) -> str:
        """The problems as a Markdown list, each as code."""
        return "\n".join(f"- `{line}`" for line in self.lines)


def check_model_config(
    raw: bytes, *, source: str, name: str
) -> ValidModelConfig | InvalidModelConfig:
    """Validate ``raw`` (the content of ``source``) as model ``name``'s config.

    Args:
        raw: The file's bytes.
        source: The file as shown in problems (``models/<name>/model.yaml``).
        name: The model the file must describe (its directory's name).
    """
    try:
        return ValidModelConfig(parse_model_config(raw, source=source, expected_name=name))
    except ConfigError as exc:
        return InvalidModelConfig(exc.problems)
