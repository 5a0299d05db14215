"""Output-quality suites: ``evals/<model>.yaml`` in the models repo, loaded strictly.

A suite is a list of cases (a completion ``prompt`` or chat ``messages``, and what the answer
must satisfy) plus the gate that judges a run. It is read with the same hardened YAML loader as
model configs (size limit, no tags, duplicate keys, alias bombs) and every problem names the
file, line and field.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import jsonschema
import jsonschema.validators
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from llm_platform.common.digest import SHA256_PREFIX
from llm_platform.common.repo_layout import eval_suite_path
from llm_platform.config.files import read_config_bytes
from llm_platform.config.problems import ConfigError, Problem
from llm_platform.config.pydantic_problems import sort_problems, validation_problems
from llm_platform.config.yaml_loader import key_lines, load_mapping

#: Tokens generated per case when the case does not say.
DEFAULT_MAX_TOKENS = 32
MAX_TOKENS_LIMIT = 1024
#: OpenAI's limit on stop sequences.
MAX_STOP_SEQUENCES = 4
#: The expectation kinds, in the order they are documented.
EXPECT_KINDS = ("contains_any", "equals", "regex", "not_contains", "json_schema")

NonEmpty = Annotated[str, StringConstraints(min_length=1)]
CaseId = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$", min_length=1, max_length=100)
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChatMessage(_Strict):
    """One OpenAI chat message of a ``messages`` case."""

    role: Literal["system", "user", "assistant"]
    content: str


class Expect(_Strict):
    """What a case's output must satisfy: exactly one of the five kinds.

    ``contains_any``: some string occurs (case-insensitive); ``equals``: the trimmed output
    equals it (case-insensitive); ``regex``: the pattern is found (``re.search``);
    ``not_contains``: none of the strings occurs (case-insensitive); ``json_schema``: the
    output parses as JSON and validates against the schema. Numbers are taken as text
    (``equals: 42`` means the answer "42").
    """

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    contains_any: list[NonEmpty] | None = Field(default=None, min_length=1)
    equals: str | None = None
    regex: NonEmpty | None = None
    not_contains: list[NonEmpty] | None = Field(default=None, min_length=1)
    json_schema: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Expect:
        given = [kind for kind in EXPECT_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(f"expect needs exactly one of {', '.join(EXPECT_KINDS)} (got {found})")
        return self

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
        return value

    @field_validator("json_schema")
    @classmethod
    def _valid_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            validator = jsonschema.validators.validator_for(value)
            try:
                validator.check_schema(value)
            except jsonschema.SchemaError as exc:
                where = "/".join(str(part) for part in exc.absolute_path) or "(root)"
                raise ValueError(f"invalid JSON schema at {where}: {exc.message}") from None
        return value

    @property
    def kind(self) -> str:
        """The one kind this expectation uses (an entry of :data:`EXPECT_KINDS`)."""
        return next(kind for kind in EXPECT_KINDS if getattr(self, kind) is not None)


class EvalCase(_Strict):
    """One request and the expectation its answer is scored against."""

    id: CaseId
    prompt: str | None = None
    messages: list[ChatMessage] | None = Field(default=None, min_length=1)
    max_tokens: int = Field(default=DEFAULT_MAX_TOKENS, ge=1, le=MAX_TOKENS_LIMIT)
    stop: list[NonEmpty] | None = Field(default=None, min_length=1, max_length=MAX_STOP_SEQUENCES)
    expect: Expect

    @model_validator(mode="after")
    def _prompt_or_messages(self) -> EvalCase:
        if (self.prompt is None) == (self.messages is None):
            got = "both" if self.prompt is not None else "neither"
            raise ValueError(f"a case needs exactly one of prompt or messages (got {got})")
        return self

    @property
    def kind(self) -> Literal["completion", "chat"]:
        """``completion`` for a ``prompt`` (``/v1/completions``), ``chat`` for ``messages``."""
        return "completion" if self.prompt is not None else "chat"


class QualityGate(_Strict):
    """How a run is judged (see :func:`llm_platform.evals.verdict.judge_quality`)."""

    min_cases: int = Field(default=10, ge=1, description="fewer scored cases: inconclusive")
    max_regression: float = Field(
        default=0.05, ge=0.0, lt=1.0, description="pass-rate loss tolerated vs the baseline"
    )
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    min_score: float = Field(
        default=0.0, ge=0.0, le=1.0, description="absolute pass-rate floor without a baseline"
    )


class EvalSuite(_Strict):
    """A model's output-quality suite: its cases and its gate."""

    cases: list[EvalCase] = Field(min_length=1)
    gate: QualityGate = Field(default_factory=QualityGate)


def suite_path(repo_root: Path, model: str) -> Path:
    """Where ``model``'s suite lives in a models repo checkout: ``evals/<model>.yaml``."""
    return Path(repo_root) / eval_suite_path(model)


def parse_suite(data: bytes, *, source: str) -> EvalSuite:
    """Validate the bytes of a suite file (e.g. a blob read from git at a commit).

    Args:
        data: Raw file content.
        source: The path shown in problems.

    Returns:
        The validated suite.

    Raises:
        ConfigError: With every problem found (file, line, field, message).
    """
    document = load_mapping(data, source=source)
    problems = document.problems + _duplicate_ids(document.data, document.text, source)
    try:
        suite = EvalSuite.model_validate(document.data)
    except ValidationError as exc:
        lines = key_lines(document.text)
        problems += validation_problems(exc, EvalSuite, lines, source)
        raise ConfigError(sort_problems(problems)) from None
    if problems:
        raise ConfigError(sort_problems(problems))
    return suite


def load_suite(path: Path, *, repo_root: Path | None = None) -> EvalSuite:
    """Read and validate a suite file.

    Args:
        path: The ``evals/<model>.yaml`` file.
        repo_root: When given, the file (after resolving symlinks) must lie inside it.

    Raises:
        ConfigError: The file is missing, unreadable, too large or invalid.
    """
    return parse_suite(read_config_bytes(Path(path), repo_root=repo_root), source=str(path))


def suite_hash(suite: EvalSuite) -> str:
    """A stable ``sha256:`` digest of the normalised suite (defaults filled in, keys sorted).

    Two files that differ only in layout, comments, key order or spelled-out defaults hash the
    same; any change to a case or the gate changes it.
    """
    canonical = json.dumps(
        suite.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return SHA256_PREFIX + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _duplicate_ids(data: dict[str, Any], text: str, source: str) -> list[Problem]:
    """Cases sharing an id (read from the raw mapping, so they show next to schema problems)."""
    cases = data.get("cases")
    if not isinstance(cases, list):
        return []
    first: dict[str, int] = {}
    duplicates: list[tuple[int, int, str]] = []
    for index, case in enumerate(cases):
        ident = case.get("id") if isinstance(case, dict) else None
        if not isinstance(ident, str):
            continue
        if ident in first:
            duplicates.append((index, first[ident], ident))
        else:
            first[ident] = index
    if not duplicates:
        return []
    lines = key_lines(text)
    problems = []
    for index, earlier, ident in duplicates:
        earlier_line = lines.get(("cases", str(earlier), "id"))
        problems.append(
            Problem(
                path=source,
                line=lines.get(("cases", str(index), "id")),
                field=f"cases[{index}].id",
                message=f"duplicate case id {ident!r} (first used on line {earlier_line})",
            )
        )
    return problems
