"""The project's own container image, built from ``deploy/Dockerfile``.

One image serves as the Dagster code location on Kubernetes (the Helm user deployment), as the
Kubeflow component image of the registration pipeline, and as the builtin engine's server. Its
name is the project name and version: ``docker build -f deploy/Dockerfile -t llm-platform:0.1.0 .``
(``make image``); a cluster pulling from a registry sets ``LLM_PLATFORM_IMAGE`` to the pushed name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from llm_platform import __version__

IMAGE_REPOSITORY = "llm-platform"
#: ``llm-platform:<version>``: what ``make image`` builds.
PLATFORM_IMAGE = f"{IMAGE_REPOSITORY}:{__version__}"
#: Overrides the image name (e.g. ``registry.example.com/ml/llm-platform:0.1.0``).
PLATFORM_IMAGE_ENV = "LLM_PLATFORM_IMAGE"


def platform_image(environ: Mapping[str, str] | None = None) -> str:
    """``LLM_PLATFORM_IMAGE`` when set, else :data:`PLATFORM_IMAGE`."""
    env = os.environ if environ is None else environ
    return (env.get(PLATFORM_IMAGE_ENV) or "").strip() or PLATFORM_IMAGE
