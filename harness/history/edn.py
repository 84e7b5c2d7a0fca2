"""A reader for the part of EDN that Jepsen histories use.

Maps become ``dict``, vectors and lists ``list``, sets ``frozenset``, keywords and symbols
plain strings (a keyword without its colon), ``nil``/``true``/``false`` ``None``/``True``/
``False``; integers (an ``N`` suffix allowed) ``int`` and floats (an ``M`` suffix allowed)
``float``. Commas are whitespace, ``;`` starts a comment, ``#_`` discards the next form and
a tagged form (``#inst "…"``, ``#jepsen.history.Op{…}``) reads as its value. Set elements
and map keys are made hashable (a vector becomes a tuple); a map as a key is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any


class EdnError(ValueError):
    """Text that is not EDN; ``line`` is where the problem is (1-based)."""

    def __init__(self, message: str, line: int) -> None:
        self.line = line
        self.reason = message
        super().__init__(f"line {line}: {message}")


_SKIP = re.compile(r"(?:[\s,]|;[^\n]*)*")
_ATOM = re.compile(r"[^\s,;()\[\]{}\"]+")
_INT = re.compile(r"[+-]?\d+N?")
_FLOAT = re.compile(r"[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?M?")
_SYMBOL = re.compile(r"[A-Za-z*!_?$%&=<>+\-./][\w*!?$%&=<>+\-./:#']*")
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
_CLOSERS = {"[": "]", "(": ")", "{": "}"}


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.counted = (0, 1)  # a position and its line, so lines are counted once

    def line(self, pos: int | None = None) -> int:
        pos = self.pos if pos is None else pos
        known, line = self.counted
        if pos < known:
            return self.text.count("\n", 0, pos) + 1
        line += self.text.count("\n", known, pos)
        self.counted = (pos, line)
        return line

    def fail(self, message: str, pos: int | None = None) -> EdnError:
        return EdnError(message, self.line(pos))

    def skip(self) -> str:
        """Skip whitespace, commas and comments; the next character ('' at the end)."""
        self.pos = _SKIP.match(self.text, self.pos).end()
        return self.text[self.pos:self.pos + 1]

    def form(self) -> Any:
        char = self.skip()
        if not char:
            raise self.fail("unexpected end of input")
        if char in _CLOSERS:
            start = self.pos
            self.pos += 1
            items = self.sequence(_CLOSERS[char], start)
            return self.mapping(items, start) if char == "{" else items
        if char in ")]}":
            raise self.fail(f"unexpected {char!r}")
        if char == '"':
            return self.string()
        if char == "#":
            return self.dispatch()
        return self.atom()

    def sequence(self, closer: str, start: int) -> list[Any]:
        items = []
        while True:
            char = self.skip()
            if not char:
                raise self.fail(f"{_opener(closer)!r} is never closed", start)
            if char == closer:
                self.pos += 1
                return items
            items.append(self.form())

    def mapping(self, items: list[Any], start: int) -> dict[Any, Any]:
        if len(items) % 2:
            raise self.fail("a map needs an even number of forms", start)
        keys = [_hashable(k, self, start) for k in items[::2]]
        return dict(zip(keys, items[1::2], strict=True))

    def dispatch(self) -> Any:
        start = self.pos
        following = self.text[self.pos + 1:self.pos + 2]
        if following == "{":
            self.pos += 2
            return frozenset(_hashable(v, self, start) for v in self.sequence("}", start))
        if following == "_":
            self.pos += 2
            self.form()
            return self.form()
        self.pos += 1
        tag = _ATOM.match(self.text, self.pos)
        if tag is None or not _SYMBOL.fullmatch(tag.group()):
            raise self.fail("'#' must start a set, a discard or a tagged form", start)
        self.pos = tag.end()
        return self.form()

    def string(self) -> str:
        start = self.pos
        self.pos += 1
        parts = []
        text = self.text
        while True:
            end = _string_end(text, self.pos)
            if end < 0:
                raise self.fail("a string is never closed", start)
            parts.append(text[self.pos:end])
            self.pos = end + 1
            if text[end] == '"':
                return "".join(parts)
            code = text[self.pos:self.pos + 1]
            if code in _ESCAPES:
                parts.append(_ESCAPES[code])
                self.pos += 1
            elif code == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[self.pos + 1:self.pos + 5]):
                parts.append(chr(int(text[self.pos + 1:self.pos + 5], 16)))
                self.pos += 5
            else:
                raise self.fail(f"unknown string escape '\\{code}'", end)

    def atom(self) -> Any:
        match = _ATOM.match(self.text, self.pos)
        token = match.group()
        start, self.pos = self.pos, match.end()
        if token in _CONSTANTS:
            return _CONSTANTS[token]
        if token[0] == ":":
            if len(token) > 1 and _SYMBOL.fullmatch(token[1:]):
                return token[1:]
            raise self.fail(f"{token!r} is not a keyword", start)
        if _INT.fullmatch(token):
            return int(token.rstrip("N"))
        if _FLOAT.fullmatch(token):
            return float(token.rstrip("M"))
        if _SYMBOL.fullmatch(token) and not token[0].isdigit():
            return token
        raise self.fail(f"{token!r} is not an EDN value", start)


_CONSTANTS: dict[str, Any] = {"nil": None, "true": True, "false": False}


def _opener(closer: str) -> str:
    return {v: k for k, v in _CLOSERS.items()}[closer]


def _string_end(text: str, pos: int) -> int:
    """Index of the next '"' or '\\' from ``pos``, or -1."""
    quote, backslash = text.find('"', pos), text.find("\\", pos)
    if backslash < 0 or 0 <= quote < backslash:
        return quote
    return backslash


def _hashable(value: Any, reader: _Reader, start: int) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v, reader, start) for v in value)
    if isinstance(value, dict):
        raise reader.fail("a map cannot be a set element or a map key", start)
    return value


def loads(text: str) -> Any:
    """The one EDN form in ``text``; :class:`EdnError` if there is not exactly one."""
    reader = _Reader(text)
    value = reader.form()
    if reader.skip():
        raise reader.fail("more than one form")
    return value


def forms(text: str) -> Iterator[tuple[int, Any]]:
    """``(line, value)`` of each top-level form of ``text``, or of each element when the
    text is one vector or list (the line is where the form starts)."""
    reader = _Reader(text)
    char = reader.skip()
    closer = _CLOSERS.get(char) if char in "[(" else None
    if closer:
        start = reader.pos
        reader.pos += 1
    while True:
        char = reader.skip()
        if not char and closer:
            raise reader.fail(f"{_opener(closer)!r} is never closed", start)
        if not char:
            return
        if char == closer:
            reader.pos += 1
            if reader.skip():
                raise reader.fail("nothing may follow the history's closing bracket")
            return
        line = reader.line()
        yield line, reader.form()
