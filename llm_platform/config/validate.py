"""Validate whole models repositories, model directories or single files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from llm_platform.common.repo_layout import CONFIG_DIR, EVALS_DIR, MODEL_FILE, MODELS_DIR
from llm_platform.config.applicability import KeyApplicability, cluster_only_settings
from llm_platform.config.eval_suite import parse_suite
from llm_platform.config.files import MissingConfigFile, read_repo_file
from llm_platform.config.loading import (
    load_environment_config,
    parse_environment_config,
    parse_model_config,
)
from llm_platform.config.problems import ConfigError, Problem
from llm_platform.config.schema import ModelConfig
from llm_platform.config.source_paths import SOURCE_URI_FIELD, local_source_problem
from llm_platform.config.yaml_loader import key_lines


class ValidationReport(BaseModel):
    """Outcome of validating some paths: the files checked and every problem found."""

    files: list[str] = Field(default_factory=list)
    problems: list[Problem] = Field(default_factory=list)
    #: Host directories absolute ``local`` sources may name (the operator's allow-list).
    allowed_source_paths: tuple[Path, ...] = ()
    cluster_only: list[KeyApplicability] = Field(
        default_factory=list, description="valid keys that apply on the kubernetes target only"
    )

    @property
    def valid(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def validate_paths(paths: list[Path]) -> list[Problem]:
    """Every problem in the given paths (empty when all is valid); see :func:`validate_report`."""
    return validate_report(paths).problems


def validate_report(
    paths: list[Path], *, allowed_source_paths: Sequence[Path] = ()
) -> ValidationReport:
    """Validate models repositories, model directories and config files.

    Each path may be a models repo root (has ``models/``: every ``models/*/model.yaml``, every
    ``config/*.yaml`` and every ``evals/*.yaml`` is validated), a model directory (has
    ``model.yaml``), a ``model.yaml`` file, a ``config/<env>.yaml`` file or an
    ``evals/<model>.yaml`` output-quality suite (its model must exist in the repo).

    Args:
        paths: The paths to validate.
        allowed_source_paths: the operator's allow-list for absolute ``local`` sources
            (``LLM_PLATFORM_ALLOWED_SOURCE_PATHS``); a ``local`` source must otherwise stay
            inside the models repo.

    Returns:
        The files checked and all problems, in path order.
    """
    report = ValidationReport(allowed_source_paths=tuple(allowed_source_paths))
    for path in paths:
        _validate_one(Path(path), report)
    return report


def _validate_one(path: Path, report: ValidationReport) -> None:
    if not path.exists():
        report.problems.append(Problem(path=str(path), message="path does not exist"))
    elif path.is_file():
        _validate_file(path, report)
    elif (path / MODELS_DIR).is_dir():
        _validate_repo(path, report)
    elif (path / MODEL_FILE).exists() or path.parent.name == MODELS_DIR:
        _check_model(path / MODEL_FILE, _repo_root_of(path).resolve(), False, report)
    else:
        message = (
            "not a models repository (no models/ directory) "
            f"and not a model directory (no {MODEL_FILE})"
        )
        report.problems.append(Problem(path=str(path), message=message))


def _validate_file(path: Path, report: ValidationReport) -> None:
    if path.name == MODEL_FILE:
        _check_model(path, _repo_root_of(path.parent).resolve(), False, report)
    elif path.parent.name == EVALS_DIR and path.suffix == ".yaml":
        root = path.parent.parent
        _check_suite(path, root.resolve(), False, _model_names(root), report)
    elif path.parent.name == CONFIG_DIR and path.suffix == ".yaml":
        report.files.append(str(path))
        try:
            load_environment_config(path)
        except ConfigError as exc:
            report.problems.extend(exc.problems)
    else:
        message = (
            f"not a {MODEL_FILE}, config/<env>.yaml or {EVALS_DIR}/<model>.yaml file; "
            "nothing to validate"
        )
        report.problems.append(Problem(path=str(path), message=message))


def _validate_repo(root: Path, report: ValidationReport) -> None:
    resolved_root = root.resolve()
    models_dir = root / MODELS_DIR
    models_inside = models_dir.resolve().is_relative_to(resolved_root)
    with os.scandir(models_dir) as scan:
        entries = sorted(
            (entry for entry in scan if not entry.name.startswith(".") and entry.is_dir()),
            key=lambda entry: entry.name,
        )
    for entry in entries:
        inside = models_inside and not entry.is_symlink()
        _check_model(models_dir / entry.name / MODEL_FILE, resolved_root, inside, report)
    config_dir = root / CONFIG_DIR
    if config_dir.is_dir():
        config_inside = config_dir.resolve().is_relative_to(resolved_root)
        for env_file in sorted(config_dir.glob("*.yaml")):
            _check_environment(env_file, resolved_root, config_inside, report)
    evals_dir = root / EVALS_DIR
    if evals_dir.is_dir():
        evals_inside = evals_dir.resolve().is_relative_to(resolved_root)
        names = {entry.name for entry in entries}
        for suite_file in sorted(evals_dir.glob("*.yaml")):
            _check_suite(suite_file, resolved_root, evals_inside, names, report)


def _model_names(root: Path) -> set[str]:
    """The model directories of a models repo root (empty when it has no ``models/``)."""
    models_dir = root / MODELS_DIR
    if not models_dir.is_dir():
        return set()
    return {p.name for p in models_dir.iterdir() if p.is_dir() and not p.name.startswith(".")}


def _check_suite(
    suite_file: Path,
    resolved_root: Path,
    directory_inside: bool,
    model_names: set[str],
    report: ValidationReport,
) -> None:
    report.files.append(str(suite_file))
    if suite_file.stem not in model_names:
        message = (
            f"output-quality suite for model {suite_file.stem!r}, which does not exist "
            f"(no {MODELS_DIR}/{suite_file.stem}/{MODEL_FILE})"
        )
        report.problems.append(Problem(path=str(suite_file), message=message))
    try:
        data = read_repo_file(
            suite_file, repo_root=resolved_root, directory_inside=directory_inside
        )
        parse_suite(data, source=str(suite_file))
    except ConfigError as exc:
        report.problems.extend(exc.problems)


def _repo_root_of(model_dir: Path) -> Path:
    """The repo root for ``<root>/models/<name>``; otherwise the model directory itself."""
    if model_dir.parent.name == MODELS_DIR:
        return model_dir.parent.parent
    return model_dir


def _check_model(
    model_file: Path, resolved_root: Path, directory_inside: bool, report: ValidationReport
) -> None:
    try:
        data = read_repo_file(
            model_file, repo_root=resolved_root, directory_inside=directory_inside
        )
    except MissingConfigFile:
        message = f"model directory has no {MODEL_FILE}"
        report.problems.append(Problem(path=str(model_file.parent), message=message))
        return
    except ConfigError as exc:
        report.files.append(str(model_file))
        report.problems.extend(exc.problems)
        return
    report.files.append(str(model_file))
    try:
        config = parse_model_config(
            data, source=str(model_file), expected_name=model_file.parent.name
        )
    except ConfigError as exc:
        report.problems.extend(exc.problems)
        return
    _check_local_source(config, data, model_file, resolved_root, report)


def _check_local_source(
    config: ModelConfig,
    data: bytes,
    model_file: Path,
    resolved_root: Path,
    report: ValidationReport,
) -> None:
    if config.source is None or config.source.type != "local":
        return
    problem = local_source_problem(config.source.uri, resolved_root, report.allowed_source_paths)
    if problem is not None:
        line = key_lines(data.decode("utf-8", "replace")).get(("source", "uri"))
        report.problems.append(
            Problem(path=str(model_file), line=line, field=SOURCE_URI_FIELD, message=problem)
        )


def _check_environment(
    env_file: Path, resolved_root: Path, directory_inside: bool, report: ValidationReport
) -> None:
    report.files.append(str(env_file))
    try:
        data = read_repo_file(env_file, repo_root=resolved_root, directory_inside=directory_inside)
        env = parse_environment_config(
            data, source=str(env_file), expected_environment=env_file.stem
        )
        report.cluster_only.extend(cluster_only_settings(env))
    except ConfigError as exc:
        report.problems.extend(exc.problems)
