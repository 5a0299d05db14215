"""A lean, safe YAML loader: libyaml parses, a direct builder constructs plain Python values.

PyYAML's generic constructor machinery (generators, per-node bookkeeping, path resolvers) is
built for arbitrary tags; configuration files only ever contain mappings, sequences and the
implicit scalar types, so :class:`StrictLoader` builds those directly, reusing PyYAML's own
scalar constructors for identical semantics, and reports duplicate keys instead of overwriting.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

# The libyaml-backed loader when PyYAML was built with it (much faster); same semantics.
BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_SCALARS = {
    f"tag:yaml.org,2002:{name}": SafeConstructor.yaml_constructors[f"tag:yaml.org,2002:{name}"]
    for name in ("null", "bool", "int", "float", "timestamp")
}

# Plain scalars repeat a lot across files (keys above all); resolving one costs a few regex
# matches in Python. Bounded, and only short values are kept.
_PLAIN_TAG_CACHE: dict[str, str] = {}
_CACHE_LIMIT = 4096
_CACHE_VALUE_LEN = 64


class StrictLoader(BaseLoader):  # type: ignore[misc]
    """Safe loader building plain values; duplicate keys are recorded, not overwritten.

    Explicit tags must have been refused before (``yaml_loader`` scans for them); any tag this
    builder does not know still goes through PyYAML's safe constructor, which refuses it.
    """

    def __init__(self, stream: str, *, may_merge: bool, has_aliases: bool) -> None:
        super().__init__(stream)
        self.may_merge = may_merge
        self.memo: dict[int, Any] | None = {} if has_aliases else None
        # (mapping node, key, line, line of first definition)
        self.duplicates: list[tuple[Node, Any, int, int]] = []

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        """Cached implicit-tag resolution for plain scalars (same answer as PyYAML's)."""
        if kind is ScalarNode and implicit[0] and not self.yaml_path_resolvers:
            tag = _PLAIN_TAG_CACHE.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(value) <= _CACHE_VALUE_LEN and len(_PLAIN_TAG_CACHE) < _CACHE_LIMIT:
                    _PLAIN_TAG_CACHE[value] = tag
            return tag
        resolved: str = super().resolve(kind, value, implicit)
        return resolved

    def build(self, node: Node) -> Any:
        """Construct the Python value of ``node`` (recursive; libyaml caps nesting depth)."""
        cls = node.__class__
        if cls is ScalarNode:
            tag = node.tag
            if tag == _STR_TAG:
                return node.value
            constructor = _SCALARS.get(tag)
            if constructor is not None:
                return constructor(self, node)
            return self.construct_object(node, deep=True)
        memo = self.memo
        if memo is not None and id(node) in memo:
            return memo[id(node)]
        if cls is SequenceNode:
            result: Any = [self.build(item) for item in node.value]
        elif cls is MappingNode:
            result = self._build_mapping(node)
        else:
            return self.construct_object(node, deep=True)
        if memo is not None:
            memo[id(node)] = result
        return result

    def _build_mapping(self, node: Node) -> dict[Any, Any]:
        pairs = node.value
        explicit_from = 0
        if self.may_merge and any(key.tag == MERGE_TAG for key, _ in pairs):
            explicit = sum(1 for key, _ in pairs if key.tag != MERGE_TAG)
            self.flatten_mapping(node)  # merged pairs first, then the explicit ones
            pairs = node.value
            explicit_from = len(pairs) - explicit
        result: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for index, (key_node, value_node) in enumerate(pairs):
            if key_node.__class__ is not ScalarNode:
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    "found a non-scalar key (keys must be plain strings or numbers)",
                    key_node.start_mark,
                )
            key = self.build(key_node)
            if index >= explicit_from:
                if key in first_line:
                    line = key_node.start_mark.line + 1
                    self.duplicates.append((node, key, line, first_line[key]))
                else:
                    first_line[key] = key_node.start_mark.line + 1
            result[key] = self.build(value_node)
        return result
