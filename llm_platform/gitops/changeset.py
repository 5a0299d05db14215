"""What changed in the models repo between two commits, at the level of models and environments.

The layout of a models repo is ``models/<name>/model.yaml`` (plus other files in the model's
directory), ``config/<env>.yaml`` and optionally ``approvals/<model>.yaml``. This module turns the
file-level output of ``git diff --name-status -z -M`` into model-level sets; it runs no git itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr, computed_field, model_validator

from llm_platform.common.repo_layout import APPROVALS_DIR, CONFIG_DIR, MODEL_FILE, MODELS_DIR
from llm_platform.gitops.runner import GitError

#: Path prefixes the change detector looks at; everything else in the repo is ignored.
WATCHED_PREFIXES = (f"{MODELS_DIR}/", f"{CONFIG_DIR}/", f"{APPROVALS_DIR}/")


class CommitInfo(BaseModel):
    """One commit of the models repo (``timestamp`` is the committer time, Unix seconds)."""

    sha: str
    author: str
    author_email: str
    subject: str
    timestamp: int


class ChangeSet(BaseModel):
    """Model-level changes between a previous cursor commit (``base``) and ``head``.

    ``present`` (models with a ``model.yaml`` at ``head``) is computed lazily when the change set
    comes from :meth:`GitRepo.changes`: listing every model costs one ``git ls-tree`` over the
    whole ``models/`` tree, which an incremental push touching a few models does not need. It is
    read on full rescans and environment changes (every model is affected then).

    When ``full_rescan`` is set, ``present`` is the authority: ``added`` / ``modified`` /
    ``deleted`` are only what could be diffed (empty when ``base`` is unknown, all present models
    as ``added`` on the first run), so reconcile known models against ``present``.
    """

    base: str | None
    head: str
    full_rescan: bool
    reason: str
    added: set[str] = Field(default_factory=set)
    modified: set[str] = Field(default_factory=set)
    deleted: set[str] = Field(default_factory=set)
    renamed: list[tuple[str, str]] = Field(default_factory=list)
    environments_changed: set[str] = Field(default_factory=set)
    approvals_changed: set[str] = Field(default_factory=set)

    _present: set[str] | None = PrivateAttr(default=None)
    _present_loader: Callable[[], set[str]] | None = PrivateAttr(default=None)
    _presence_hints: dict[str, bool] = PrivateAttr(default_factory=dict)

    def __init__(self, *, present: Iterable[str] | None = None, **data: Any) -> None:
        super().__init__(**data)
        if present is not None:
            self._present = {str(name) for name in present}

    @model_validator(mode="wrap")
    @classmethod
    def _take_present(cls, data: Any, handler: Callable[[Any], ChangeSet]) -> ChangeSet:
        present: Any = None
        if isinstance(data, dict) and "present" in data:
            data = dict(data)
            present = data.pop("present")
        obj = handler(data)
        if present is not None:
            obj._present = {str(name) for name in present}
        return obj

    @classmethod
    def lazy(
        cls,
        *,
        loader: Callable[[], set[str]],
        presence_hints: dict[str, bool] | None = None,
        **fields: Any,
    ) -> ChangeSet:
        """Build a change set whose ``present`` is computed by ``loader`` on first access.

        Args:
            loader: Returns the models present at ``head`` (called at most once).
            presence_hints: Already known presence at ``head`` of individual models.
            **fields: The model fields (everything but ``present``).
        """
        obj = cls(**fields)
        obj._present_loader = loader
        obj._presence_hints = dict(presence_hints or {})
        return obj

    @computed_field  # type: ignore[prop-decorator]
    @property
    def present(self) -> set[str]:
        """Names of the models that have a ``model.yaml`` at ``head``."""
        if self._present is None:
            if self._present_loader is None:
                raise ValueError("ChangeSet was built without `present` and without a loader")
            self._present = set(self._present_loader())
        return self._present

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChangeSet):
            return NotImplemented
        if dict(self) != dict(other):
            return False
        # Same fields means same head; only compare listings both sides already computed.
        if self._present is not None and other._present is not None:
            return self._present == other._present
        return True

    __hash__ = None  # type: ignore[assignment]

    def _is_present(self, name: str) -> bool:
        if self._present is None and name in self._presence_hints:
            return self._presence_hints[name]
        return name in self.present

    @property
    def affected(self) -> set[str]:
        """Models that need a new run.

        Every present model on a full rescan or when an environment config changed; otherwise
        the added, modified and renamed-to models plus those whose approvals file changed,
        restricted to models present at ``head``.
        """
        if self.full_rescan or self.environments_changed:
            return set(self.present)
        candidates = self.added | self.modified | {new for _, new in self.renamed}
        candidates |= self.approvals_changed
        return {name for name in candidates if self._is_present(name)}


@dataclass
class DiffSummary:
    """File-level diff folded into model / environment / approval names.

    ``files`` counts the diff entries under the watched directories.
    """

    files: int = 0
    touched_models: set[str] = field(default_factory=set)
    yaml_at_base: dict[str, bool] = field(default_factory=dict)
    yaml_at_head: dict[str, bool] = field(default_factory=dict)
    yaml_renames: list[tuple[str, str]] = field(default_factory=list)
    environments: set[str] = field(default_factory=set)
    approvals: set[str] = field(default_factory=set)

    def unknown_presence(self) -> set[str]:
        """Touched models whose ``model.yaml`` did not change (so presence is not in the diff)."""
        return {name for name in self.touched_models if name not in self.yaml_at_head}


def parse_name_status(raw: bytes) -> list[tuple[str, str, str | None]]:
    """Parse ``git diff --name-status -z`` output into ``(status, path, new_path)`` entries.

    ``new_path`` is set for renames (``R``) and copies (``C``); paths are decoded with the file
    system encoding (undecodable bytes survive as surrogate escapes).

    Raises:
        GitError: the output is truncated or has an unknown status letter.
    """
    tokens = raw.split(b"\0")
    if tokens and tokens[-1] == b"":
        tokens.pop()
    entries: list[tuple[str, str, str | None]] = []
    i = 0
    while i < len(tokens):
        status = tokens[i].decode("ascii", "replace")
        letter = status[:1]
        if letter in ("R", "C"):
            if i + 2 >= len(tokens):
                raise GitError(f"truncated git diff output after status {status!r}")
            entries.append((letter, os.fsdecode(tokens[i + 1]), os.fsdecode(tokens[i + 2])))
            i += 3
        elif letter in ("A", "M", "D", "T"):
            if i + 1 >= len(tokens):
                raise GitError(f"truncated git diff output after status {status!r}")
            entries.append((letter, os.fsdecode(tokens[i + 1]), None))
            i += 2
        else:
            raise GitError(f"unexpected status {status!r} in git diff output")
    return entries


def model_of(path: str) -> tuple[str, bool] | None:
    """``(model name, is model.yaml)`` for a path inside ``models/<name>/``, else None.

    Files directly under ``models/`` belong to no model and give None.
    """
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != MODELS_DIR or not parts[1]:
        return None
    return parts[1], len(parts) == 3 and parts[2] == MODEL_FILE


def _yaml_stem(path: str, directory: str) -> str | None:
    parts = path.split("/")
    if len(parts) == 2 and parts[0] == directory and parts[1].endswith(".yaml"):
        stem = parts[1][: -len(".yaml")]
        return stem or None
    return None


def environment_of(path: str) -> str | None:
    """Environment name for ``config/<env>.yaml``, else None."""
    return _yaml_stem(path, CONFIG_DIR)


def approval_of(path: str) -> str | None:
    """Model name for ``approvals/<model>.yaml``, else None."""
    return _yaml_stem(path, APPROVALS_DIR)


def summarize(entries: Iterable[tuple[str, str, str | None]]) -> DiffSummary:
    """Fold file-level diff entries into a :class:`DiffSummary`."""
    out = DiffSummary()

    def record(path: str, at_base: bool, at_head: bool) -> None:
        model = model_of(path)
        if model is not None:
            name, is_yaml = model
            out.touched_models.add(name)
            if is_yaml:
                out.yaml_at_base[name] = at_base
                out.yaml_at_head[name] = at_head
            return
        env = environment_of(path)
        if env is not None:
            out.environments.add(env)
        approval = approval_of(path)
        if approval is not None:
            out.approvals.add(approval)

    for status, path, new_path in entries:
        if path.startswith(WATCHED_PREFIXES) or (new_path or "").startswith(WATCHED_PREFIXES):
            out.files += 1
        if status == "A":
            record(path, False, True)
        elif status == "D":
            record(path, True, False)
        elif status in ("M", "T"):
            record(path, True, True)
        elif new_path is not None:
            if status == "R":
                record(path, True, False)
                old, new = model_of(path), model_of(new_path)
                if old and new and old[1] and new[1] and old[0] != new[0]:
                    out.yaml_renames.append((old[0], new[0]))
            record(new_path, False, True)
    return out
