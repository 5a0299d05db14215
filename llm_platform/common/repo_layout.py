"""Where things live in a models repo: ``models/<name>/model.yaml``, ``config/<env>.yaml``,
``evals/<name>.yaml``, ``approvals/<name>.yaml`` (a leaf module: the config loader and the git
layer both read it, and neither imports the other)."""

from __future__ import annotations

#: The branch of the models repo the pipeline follows unless told otherwise.
DEFAULT_BRANCH = "main"
#: The directory holding one sub-directory per model.
MODELS_DIR = "models"
#: A model's config file inside its directory.
MODEL_FILE = "model.yaml"
#: The directory holding one environment config per environment, ``<env>.yaml``.
CONFIG_DIR = "config"
#: The directory holding one output-quality suite per model, ``<name>.yaml``.
EVALS_DIR = "evals"
#: The directory holding one approvals file per model, ``<name>.yaml``.
APPROVALS_DIR = "approvals"


def model_config_path(name: str) -> str:
    """Where model ``name``'s config lives in a models repo: ``models/<name>/model.yaml``."""
    return f"{MODELS_DIR}/{name}/{MODEL_FILE}"


def environment_config_path(env: str) -> str:
    """Where environment ``env``'s config lives in a models repo: ``config/<env>.yaml``."""
    return f"{CONFIG_DIR}/{env}.yaml"


def approvals_path(name: str) -> str:
    """Where model ``name``'s approvals live in a models repo: ``approvals/<name>.yaml``."""
    return f"{APPROVALS_DIR}/{name}.yaml"


def eval_suite_path(name: str) -> str:
    """Where model ``name``'s output-quality suite lives in a models repo: ``evals/<name>.yaml``."""
    return f"{EVALS_DIR}/{name}.yaml"
