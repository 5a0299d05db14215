"""A hardened YAML loader for configuration files.

Safe by construction: only plain mappings, sequences and scalars are built; any explicit tag
(``!!python/object``, ``!custom``, even ``!!str``) is refused with its line; duplicate keys are
reported instead of silently overwritten; documents that alias-expand past a node budget
("billion laughs") or alias themselves recursively are refused before anything walks them; files
over 1 MiB are refused before parsing. Line numbers for keys are only computed on the error path
(:func:`key_lines`), so valid files pay for nothing but the C parser and the constructor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from llm_platform.config.problems import ConfigError, Problem
from llm_platform.config.yaml_construct import MERGE_TAG, BaseLoader, StrictLoader

MAX_FILE_BYTES = 1024 * 1024
MAX_EXPANDED_NODES = 100_000

_YAML_TAG_PREFIX = "tag:yaml.org,2002:"


@dataclass
class YamlDocument:
    """A loaded top-level mapping plus the non-fatal problems found while loading it."""

    data: dict[str, Any]
    text: str
    problems: list[Problem] = field(default_factory=list)


def load_mapping(data: bytes, *, source: str) -> YamlDocument:
    """Parse one YAML document whose top level must be a mapping.

    Args:
        data: The raw file content.
        source: The path shown in problems.

    Returns:
        The mapping, the decoded text and any duplicate-key problems (the document is still
        usable, so schema problems can be reported alongside them).

    Raises:
        ConfigError: The file is too large, not UTF-8, not YAML, uses tags, expands too much
            through aliases, is empty or its top level is not a mapping.
    """
    text = _decode(data, source)
    if "!" in text:
        _reject_tags(text, source)
    has_aliases = "*" in text
    loader = StrictLoader(text, may_merge="<<" in text, has_aliases=has_aliases)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError([Problem(path=source, message="file is empty; expected a mapping")])
        if has_aliases:
            _check_expansion(node, source)
        value = loader.build(node)
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_problem(exc, source)]) from None
    except RecursionError:
        raise ConfigError([Problem(path=source, message="YAML nested too deeply")]) from None
    finally:
        loader.dispose()
    if not isinstance(value, dict):
        kind = "a list" if isinstance(value, list) else f"a {type(value).__name__} scalar"
        line = node.start_mark.line + 1
        message = f"top level must be a mapping of keys, got {kind}"
        raise ConfigError([Problem(path=source, line=line, message=message)])
    problems = _duplicate_problems(node, loader.duplicates, source) if loader.duplicates else []
    return YamlDocument(data=value, text=text, problems=problems)


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map each key path (``("resources", "memory_gb")``; list indices as strings) to its line.

    Only called on the error path; ``text`` has already loaded successfully.
    """
    loader = BaseLoader(text)
    try:
        root = loader.get_single_node()
    finally:
        loader.dispose()
    lines: dict[tuple[str, ...], int] = {}
    if root is None:
        return lines
    stack: list[tuple[Node, tuple[str, ...]]] = [(root, ())]
    lines[()] = root.start_mark.line + 1
    budget = MAX_EXPANDED_NODES
    while stack and budget > 0:
        node, path = stack.pop()
        budget -= 1
        if isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                if not isinstance(key_node, ScalarNode) or key_node.tag == MERGE_TAG:
                    continue
                child = (*path, key_node.value)
                lines[child] = key_node.start_mark.line + 1  # the last duplicate wins
                stack.append((value_node, child))
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                child = (*path, str(index))
                lines.setdefault(child, item.start_mark.line + 1)
                stack.append((item, child))
    return lines


def _duplicate_problems(
    root: Node, duplicates: list[tuple[Node, Any, int, int]], source: str
) -> list[Problem]:
    """Turn recorded duplicates into problems naming the full key path."""
    paths: dict[int, tuple[str, ...]] = {}
    stack: list[tuple[Node, tuple[str, ...]]] = [(root, ())]
    while stack and len(paths) < MAX_EXPANDED_NODES:
        node, path = stack.pop()
        if id(node) in paths:
            continue
        paths[id(node)] = path
        if isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                stack.append((value_node, (*path, str(getattr(key_node, "value", "?")))))
        elif isinstance(node, SequenceNode):
            stack.extend((item, (*path, f"[{i}]")) for i, item in enumerate(node.value))
    problems = []
    for mapping, key, line, first in duplicates:
        parts = [*paths.get(id(mapping), ()), str(key)]
        field = ".".join(parts).replace(".[", "[")
        message = f"duplicate key (first defined on line {first})"
        problems.append(Problem(path=source, line=line, field=field, message=message))
    return problems


def _decode(data: bytes, source: str) -> str:
    if len(data) > MAX_FILE_BYTES:
        message = f"file is {len(data)} bytes; the limit is {MAX_FILE_BYTES} bytes (1 MiB)"
        raise ConfigError([Problem(path=source, message=message)])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        message = f"invalid UTF-8 at byte offset {exc.start} ({exc.reason})"
        raise ConfigError([Problem(path=source, line=line, message=message)]) from None
    return text[1:] if text.startswith("\ufeff") else text


def _reject_tags(text: str, source: str) -> None:
    """Refuse every explicit tag; only reached when the text contains a ``!`` at all."""
    problems: list[Problem] = []
    loader = BaseLoader(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            tag = getattr(event, "tag", None)
            if tag is not None:
                if tag.startswith(_YAML_TAG_PREFIX):
                    tag = "!!" + tag[len(_YAML_TAG_PREFIX) :]
                problems.append(
                    Problem(
                        path=source,
                        line=event.start_mark.line + 1,
                        message=f"YAML tags are not allowed (found {tag!r})",
                    )
                )
    except yaml.YAMLError as exc:
        problems.append(_yaml_problem(exc, source))
    finally:
        loader.dispose()
    if problems:
        raise ConfigError(problems)


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root: Node, source: str) -> None:
    """Refuse recursive aliases and documents whose alias expansion exceeds the node budget.

    Sizes are memoised per node, so the cost is linear in the *unexpanded* document.
    """
    sizes: dict[int, int] = {}
    ancestors: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        ident = id(node)
        if finished:
            ancestors.discard(ident)
            size = 1 + sum(sizes[id(child)] for child in _children(node))
            if size > MAX_EXPANDED_NODES:
                message = (
                    f"aliases expand this document past {MAX_EXPANDED_NODES} nodes "
                    "(alias bomb?); refusing it"
                )
                raise ConfigError(
                    [Problem(path=source, line=node.start_mark.line + 1, message=message)]
                )
            sizes[ident] = size
            continue
        if ident in sizes:
            continue
        ancestors.add(ident)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in ancestors:
                message = "recursive alias: a node contains itself"
                line = child.start_mark.line + 1
                raise ConfigError([Problem(path=source, line=line, message=message)])
            if id(child) not in sizes:
                stack.append((child, False))


def _yaml_problem(exc: yaml.YAMLError, source: str) -> Problem:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    if problem:
        message = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    else:
        message = f"invalid YAML: {exc}"
    line = mark.line + 1 if mark is not None else None
    return Problem(path=source, line=line, message=message)
