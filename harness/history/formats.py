"""Reading a history file: Jepsen EDN, JSON, or Jepsen log lines (detected by content).

* EDN: a vector or list of maps, or one map per line, with the keys ``:process :type :f
  :value`` and optionally ``:key :time :index``;
* JSON: an array of objects or one object per line, with the same keys as strings;
* log lines as Jepsen prints them: ``INFO  jepsen.util - 3<TAB>:invoke<TAB>:cas<TAB>[1 4]``
  (process, type, f and value separated by tabs; other lines are skipped).

Operations of the ``nemesis`` process are skipped. Bad input raises :class:`HistoryError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from aethel.errors import InputError
from aethel.files import DuplicateKey, read_input, unique_keys
from harness.history import edn

TYPES = ("invoke", "ok", "fail", "info")


class HistoryError(InputError, ValueError):
    """A history that cannot be read: ``where`` names the file and line."""


class Event(NamedTuple):
    """One line of a history: an invocation or a completion."""

    process: Any
    type: str
    f: str
    value: Any
    key: Any
    time: float | None
    line: int


_LOG_OP = re.compile(r"\t:(?:invoke|ok|fail|info)\t")
_LOG_LINE = re.compile(r"(?:^|\s)(\S+)\t:([^\t]*)\t:?([^\t]*)(?:\t([^\t]*))?")


def read_history(path: str | Path) -> list[Event]:
    """The events of the history file ``path``."""
    try:
        data = read_input(path, "history")
    except HistoryError:
        raise
    except InputError as exc:
        raise HistoryError(str(exc)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise HistoryError("the history is not UTF-8 text", f"{path}: line {line}") from None
    return parse_history(text, str(path))


def parse_history(text: str, where: str = "history") -> list[Event]:
    """The events of a history given as text (``where`` names it in messages)."""
    kind = detect(text)
    if kind is None:
        raise HistoryError("not a history: expected Jepsen EDN, JSON or Jepsen log lines",
                           f"{where}: line 1" if text.strip() else f"{where}: the file is empty")
    if kind == "log":
        items = _log_items(text, where)
    elif kind == "json":
        items = _json_items(text, where)
    else:
        items = _edn_items(text, where)
    events = []
    for line, item in items:
        event = _event(item, line, where)
        if event is not None:
            events.append(event)
    return events


def detect(text: str) -> str | None:
    """``"edn"``, ``"json"`` or ``"log"`` (None: none of them), from the first characters
    that matter."""
    head = re.match(r"(?:\s|;[^\n]*)*(\[?)\s*(.?)\s*(.?)", text)
    bracket, first, second = head.groups()
    if first == "{" and second in ('"', "}") or (bracket and first in ("", "]")):
        return "json"
    if first in ("{", "(", "#") or bracket:
        return "edn"
    return "log" if _LOG_OP.search(text) else None


def _edn_items(text: str, where: str) -> Iterator[tuple[int, Any]]:
    try:
        yield from edn.forms(text)
    except edn.EdnError as exc:
        raise HistoryError(f"not valid EDN: {exc.reason}", f"{where}: line {exc.line}") from None


def _json_items(text: str, where: str) -> Iterator[tuple[int, Any]]:
    decoder = json.JSONDecoder(object_pairs_hook=unique_keys)
    start = re.match(r"\s*", text).end()
    if text.startswith("[", start):
        yield from _json_array(text, start + 1, decoder, where)
        return
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            yield number, _decode(decoder, line, 0, number, where)[0]


def _json_array(text: str, pos: int, decoder: json.JSONDecoder, where: str
                ) -> Iterator[tuple[int, Any]]:
    line, counted = 1, 0
    space = re.compile(r"\s*")
    pos = space.match(text, pos).end()
    if text.startswith("]", pos):
        pos += 1
    else:
        while True:
            line += text.count("\n", counted, pos)
            counted = pos
            value, pos = _decode(decoder, text, pos, line, where)
            yield line, value
            pos = space.match(text, pos).end()
            if text.startswith("]", pos):
                pos += 1
                break
            if not text.startswith(",", pos):
                line += text.count("\n", counted, pos)
                raise HistoryError("expected ',' or ']' after an event",
                                   f"{where}: line {line}")
            pos = space.match(text, pos + 1).end()
    if text[pos:].strip():
        line += text.count("\n", counted, pos)
        raise HistoryError("nothing may follow the history's closing bracket",
                           f"{where}: line {line}")


def _decode(decoder: json.JSONDecoder, text: str, pos: int, line: int, where: str
            ) -> tuple[Any, int]:
    try:
        value, end = decoder.raw_decode(text, pos)
    except json.JSONDecodeError as exc:
        line += text.count("\n", pos, exc.pos)
        raise HistoryError(f"not valid JSON ({exc.msg})", f"{where}: line {line}") from None
    except DuplicateKey as exc:
        raise HistoryError(f"duplicate key {exc.args[0]!r}", f"{where}: line {line}") from None
    except RecursionError:
        raise HistoryError("JSON nested too deeply", f"{where}: line {line}") from None
    if pos == 0 and text[end:].strip():
        raise HistoryError("more than one JSON value on the line", f"{where}: line {line}")
    return value, end


def _log_items(text: str, where: str) -> Iterator[tuple[int, Any]]:
    for number, line in enumerate(text.splitlines(), 1):
        match = _LOG_LINE.search(line)
        if match is None:
            continue
        process, type_, f, raw = match.groups()
        item: dict[str, Any] = {"process": _log_value(process, number, where, True),
                                "type": type_, "f": f}
        item["value"] = _log_value(raw or "nil", number, where, type_ in ("invoke", "ok"))
        yield number, item


def _log_value(raw: str, line: int, where: str, strict: bool) -> Any:
    """An EDN field of a log line; a failure's or crash's value may be free text."""
    try:
        return edn.loads(raw)
    except edn.EdnError as exc:
        if not strict:
            return raw
        raise HistoryError(f"the value {raw.strip()!r} is not EDN ({exc.reason})",
                           f"{where}: line {line}") from None


def _event(item: Any, line: int, where: str) -> Event | None:
    here = f"{where}: line {line}"
    if not isinstance(item, dict):
        raise HistoryError("an event must be a map with :process, :type, :f and :value", here)
    for field in ("process", "type", "f"):
        if field not in item:
            raise HistoryError(f"the event has no {field!r}", here)
    process = item["process"]
    if process == "nemesis":
        return None
    if isinstance(process, bool) or not isinstance(process, int | str):
        raise HistoryError(f"field 'process' must be an integer or a name, got {process!r}",
                           here)
    if item["type"] not in TYPES:
        raise HistoryError(f"field 'type' must be one of {', '.join(TYPES)}, got "
                           f"{item['type']!r}", here)
    if not isinstance(item["f"], str) or not item["f"]:
        raise HistoryError(f"field 'f' must be a name, got {item['f']!r}", here)
    time = item.get("time")
    if time is not None and (isinstance(time, bool) or not isinstance(time, int | float)):
        raise HistoryError(f"field 'time' must be a number, got {time!r}", here)
    return Event(process, item["type"], item["f"], item.get("value"), item.get("key"), time,
                 line)
