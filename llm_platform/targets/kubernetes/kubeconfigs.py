"""Which kubeconfig reaches which environment's cluster (staging and production may live on
clusters of their own, as the seed has them).

Read from the environment when the settings are built; nothing here imports the Kubernetes
client.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from llm_platform.common.errors import ConfigurationError

#: ``LLM_PLATFORM_KUBECONFIG_<ENV>``: the kubeconfig of one environment's cluster (staging and
#: production on separate clusters, as the seed has them); an environment without one uses the
#: default (the pod's service account, else ``KUBECONFIG`` / ``~/.kube/config``).
KUBECONFIG_ENV_PREFIX = "LLM_PLATFORM_KUBECONFIG_"


def kubeconfig_env_var(env: str) -> str:
    """The variable naming ``env``'s kubeconfig: ``staging`` ->
    ``LLM_PLATFORM_KUBECONFIG_STAGING`` (``-`` becomes ``_``)."""
    return KUBECONFIG_ENV_PREFIX + env.upper().replace("-", "_")


def environment_kubeconfigs(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every ``LLM_PLATFORM_KUBECONFIG_<ENV>`` that is set: variable name -> path.

    Raises:
        ConfigurationError: a value is not an absolute path.
    """
    env = os.environ if environ is None else environ
    found = {}
    for name, value in sorted(env.items()):
        if not name.startswith(KUBECONFIG_ENV_PREFIX) or not value.strip():
            continue
        if not Path(value.strip()).is_absolute():
            raise ConfigurationError(f"{name}={value!r}: expected an absolute kubeconfig path")
        found[name] = value.strip()
    return found


def kubeconfig_for(
    env: str | None, kubeconfigs: Mapping[str, str], default: str | None = None
) -> str | None:
    """``env``'s own kubeconfig when one is configured, else ``default``."""
    return kubeconfigs.get(kubeconfig_env_var(env), default) if env else default
