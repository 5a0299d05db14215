"""A bounded check of GBNF grammars (llama.cpp's ``grammar`` field) before any engine sees one.

llama.cpp crashes (SIGSEGV) on some malformed grammars, e.g. ``root ::= (((``. This parser
follows llama.cpp's GBNF syntax (rules ``name ::= alternatives``; strings, character classes,
``.``, groups, ``* + ?`` and ``{m,n}`` repetitions; ``#`` comments) and refuses anything it does
not fully understand: unbalanced parentheses, brackets or quotes, unknown escapes, undefined or
missing ``root`` rules, left recursion, too large repetition counts, nesting or size.
"""

from __future__ import annotations

import re

MAX_GRAMMAR_CHARS = 32_768
MAX_RULES = 512
MAX_DEPTH = 32
MAX_REPETITION = 256

_NAME = re.compile(r"[a-zA-Z0-9_-]+")
_SPACE = re.compile(r"(?:[ \t\r\n]|#[^\n]*)*")
_ESCAPES = {"x": 2, "u": 4, "U": 8}
_SIMPLE_ESCAPES = set('nrt\\"[]-/')


class GrammarError(ValueError):
    """A grammar llama.cpp must not see; the message says what and where (character offset)."""


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        #: rule -> the symbols that can start it (for the left-recursion check)
        self.first: dict[str, set[str]] = {}
        self.referenced: dict[str, int] = {}

    def fail(self, what: str) -> GrammarError:
        return GrammarError(f"{what} at character {self.pos}")

    def space(self) -> None:
        m = _SPACE.match(self.text, self.pos)
        if m is not None:
            self.pos = m.end()

    def rules(self) -> None:
        self.space()
        while self.pos < len(self.text):
            m = _NAME.match(self.text, self.pos)
            if m is None and self.text[self.pos] == ")":
                raise self.fail("unbalanced parenthesis: ) without (")
            if m is None:
                raise self.fail("expected a rule name")
            name = m.group()
            self.pos = m.end()
            self.space()
            if not self.text.startswith("::=", self.pos):
                raise self.fail(f"expected ::= after rule name {name!r}")
            self.pos += 3
            if name in self.first:
                raise self.fail(f"rule {name!r} is defined twice")
            if len(self.first) >= MAX_RULES:
                raise self.fail(f"more than {MAX_RULES} rules")
            self.first[name], _ = self.alternatives(0)
            self.space()

    def alternatives(self, depth: int) -> tuple[set[str], bool]:
        """``seq ('|' seq)*`` up to the end of the rule or of a group."""
        if depth > MAX_DEPTH:
            raise self.fail(f"groups nested deeper than {MAX_DEPTH}")
        first, nullable = self.sequence(depth)
        while self.peek() == "|":
            self.pos += 1
            more, more_nullable = self.sequence(depth)
            first |= more
            nullable = nullable or more_nullable
        return first, nullable

    def peek(self) -> str:
        self.space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def at_rule_start(self) -> bool:
        m = _NAME.match(self.text, self.pos)
        if m is None:
            return False
        after = _SPACE.match(self.text, m.end())
        return after is not None and self.text.startswith("::=", after.end())

    def sequence(self, depth: int) -> tuple[set[str], bool]:
        """Items up to ``|``, ``)`` or the next rule; (symbols that may start it, nullable)."""
        first: set[str] = set()
        nullable = True
        while True:
            c = self.peek()
            if c in ("", "|", ")") or self.at_rule_start():
                return first, nullable
            item_first, item_nullable = self.item(depth)
            item_nullable = self.quantifier() or item_nullable
            if nullable:
                first |= item_first
            nullable = nullable and item_nullable

    def item(self, depth: int) -> tuple[set[str], bool]:
        c = self.text[self.pos]
        if c == '"':
            empty = self.literal('"', '"')
            return set(), empty
        if c == "[":
            self.literal("[", "]")
            return set(), False
        if c == ".":
            self.pos += 1
            return set(), False
        if c == "(":
            self.pos += 1
            first, nullable = self.alternatives(depth + 1)
            if self.peek() != ")":
                raise self.fail("unbalanced parenthesis: ( without )")
            self.pos += 1
            return first, nullable
        m = _NAME.match(self.text, self.pos)
        if m is None:
            raise self.fail(f"unexpected {c!r}")
        self.referenced.setdefault(m.group(), self.pos)
        self.pos = m.end()
        return {m.group()}, False

    def literal(self, open_: str, close: str) -> bool:
        """A string or character class; True when it is the empty string."""
        start = self.pos
        self.pos += 1
        while self.pos < len(self.text) and self.text[self.pos] != close:
            c = self.text[self.pos]
            if c == "\n" and open_ == '"':
                break
            if c == "\\":
                self.escape()
            else:
                self.pos += 1
        if self.pos >= len(self.text) or self.text[self.pos] != close:
            self.pos = start
            kind = "string" if open_ == '"' else "character class"
            raise self.fail(f"unterminated {kind}: {open_} without {close}")
        self.pos += 1
        if open_ == "[" and self.pos - start == 2:
            raise self.fail("empty character class")
        return self.pos - start == 2

    def escape(self) -> None:
        c = self.text[self.pos + 1 : self.pos + 2]
        if c in _ESCAPES:
            digits = self.text[self.pos + 2 : self.pos + 2 + _ESCAPES[c]]
            if len(digits) != _ESCAPES[c] or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise self.fail(f"invalid \\{c} escape")
            self.pos += 2 + _ESCAPES[c]
        elif c in _SIMPLE_ESCAPES:
            self.pos += 2
        else:
            raise self.fail(f"unknown escape \\{c}")

    def quantifier(self) -> bool:
        """A ``* + ?`` or ``{m}``, ``{m,}``, ``{m,n}`` after an item; True when it allows none."""
        nullable = False
        while self.pos < len(self.text) and self.text[self.pos] in "*+?{":
            c = self.text[self.pos]
            if c != "{":
                self.pos += 1
                nullable = nullable or c in "*?"
                continue
            end = self.text.find("}", self.pos)
            body = self.text[self.pos + 1 : end] if end > 0 else ""
            m = re.fullmatch(r"\s*(\d{1,4})\s*(?:(,)\s*(\d{1,4})?\s*)?", body)
            if end < 0 or m is None:
                raise self.fail("invalid repetition {m,n}")
            low = int(m.group(1))
            high = int(m.group(3)) if m.group(3) else (None if m.group(2) else low)
            if low > MAX_REPETITION or (high is not None and (high < low or high > MAX_REPETITION)):
                raise self.fail(f"repetition counts must be ordered and at most {MAX_REPETITION}")
            nullable = nullable or low == 0
            self.pos = end + 1
        return nullable


def _left_recursion(first: dict[str, set[str]]) -> str | None:
    """A rule that can start with itself (llama.cpp refuses left recursion), or None."""
    for rule in first:
        seen: set[str] = set()
        stack = list(first[rule])
        while stack:
            sym = stack.pop()
            if sym == rule:
                return rule
            if sym not in seen:
                seen.add(sym)
                stack.extend(first.get(sym, ()))
    return None


def check_grammar(text: str) -> str | None:
    """None when ``text`` is a grammar llama.cpp can take, else what is wrong with it."""
    if len(text) > MAX_GRAMMAR_CHARS:
        return f"grammar longer than {MAX_GRAMMAR_CHARS} characters"
    parser = _Parser(text)
    try:
        parser.rules()
    except GrammarError as exc:
        return f"invalid grammar: {exc}"
    except RecursionError:
        return "invalid grammar: nested too deeply"
    if "root" not in parser.first:
        return "invalid grammar: no root rule"
    undefined = sorted(set(parser.referenced) - set(parser.first))
    if undefined:
        return f"invalid grammar: undefined rule {undefined[0]!r}"
    # (A rule reference is taken as non-empty: the check sees direct and indirect left
    # recursion through the leading symbols of each alternative.)
    looped = _left_recursion(parser.first)
    if looped is not None:
        return f"invalid grammar: rule {looped!r} is left-recursive"
    return None
