"""Execution traces: events, a thread-safe recorder, JSON Lines import and export.

The format is specified in docs/trace-format.md. Timestamps are ``time.monotonic_ns()``,
which on Linux is one clock for every process of the machine.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import IO, Any, NamedTuple

from aethel.errors import InputError
from aethel.files import atomic_writer, input_lines, parse_json

START, READ, WRITE, COMMIT, ABORT = "START", "READ", "WRITE", "COMMIT", "ABORT"
KINDS = (START, READ, WRITE, COMMIT, ABORT)
INIT = "init"
FORMAT = "aethel-trace"
FORMAT_VERSION = 1


class Event(NamedTuple):
    """One trace event.

    READ: ``account``, ``value`` and ``version`` (id of the transaction whose write was
    observed, or ``"init"``). WRITE: ``account``, ``value`` and ``replaced`` (the version the
    install overwrote in the shared state). ABORT: ``reason``. Versions are optional: a trace
    records them on all its READ and WRITE events or on none (docs/trace-format.md).
    """

    kind: str
    txn: str
    ts: int
    worker: int
    pid: int
    account: str | None = None
    value: int | None = None
    version: str | None = None
    replaced: str | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON object, without absent fields."""
        doc: dict[str, Any] = {"event": self.kind, "txn": self.txn, "ts": self.ts,
                               "worker": self.worker, "pid": self.pid}
        for name in ("account", "value", "version", "replaced", "reason"):
            value = getattr(self, name)
            if value is not None:
                doc[name] = value
        return doc


class TraceRecorder:
    """Collects events from any number of threads; ``events()`` returns them in time order."""

    def __init__(self) -> None:
        self._events: list[Event] = []
        self._lock = threading.Lock()

    def record(self, event: Event) -> None:
        with self._lock:
            self._events.append(event)

    def extend(self, events: Iterable[Event]) -> None:
        with self._lock:
            self._events.extend(events)

    def events(self) -> list[Event]:
        with self._lock:
            return sorted(self._events, key=lambda e: e.ts)


def write_jsonl(events: Iterable[Event], path: str | Path | IO[str],
                meta: dict[str, Any] | None = None) -> None:
    """Write a header line and one event per line (to a path: atomically)."""
    header = {"format": FORMAT, "version": FORMAT_VERSION, **(meta or {})}
    if isinstance(path, (str, Path)):
        with atomic_writer(path) as fh:
            _write(fh, header, events)
    else:
        _write(path, header, events)


def _write(fh: IO[str], header: dict[str, Any], events: Iterable[Event]) -> None:
    fh.write(json.dumps(header) + "\n")
    for event in events:
        fh.write(json.dumps(event.to_json(), separators=(",", ":")) + "\n")


_REQUIRED = {
    START: (),
    READ: ("account", "value"),
    WRITE: ("account", "value"),
    COMMIT: (),
    ABORT: (),
}
_TEXT_FIELDS = ("account", "version", "replaced", "reason")


def read_jsonl(path: str | Path, transactions: Collection[str] | None = None
               ) -> tuple[dict[str, Any], list[Event]]:
    """Read a trace file: (header, events). Raises :class:`InputError` naming the line.

    With ``transactions``, an event of any other transaction is an input error too (the
    trace is not an execution of that batch). Only a regular file is read, at most
    :data:`~aethel.files.MAX_TRACE_BYTES`.
    """
    return parse_jsonl(input_lines(path, "trace"), transactions)


def parse_jsonl(lines: Iterable[str], transactions: Collection[str] | None = None
                ) -> tuple[dict[str, Any], list[Event]]:
    """Parse trace lines (see :func:`read_jsonl`); events must be in timestamp order."""
    header: dict[str, Any] = {}
    events: list[Event] = []
    previous = (0, "")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        doc = parse_json(line, where)
        if not isinstance(doc, dict):
            raise InputError("expected a JSON object", where)
        if number == 1 and "format" in doc:
            if doc["format"] != FORMAT:
                raise InputError(f"format must be {FORMAT!r}", where)
            header = doc
            continue
        event = event_from_json(doc, where)
        if transactions is not None and event.txn not in transactions:
            raise InputError(f"transaction {event.txn!r} is not in the batch", where)
        if events and event.ts < previous[0]:
            raise InputError(f"events must be in timestamp order: ts {event.ts} is before "
                             f"{previous[1]}'s ts {previous[0]}", where)
        previous = (event.ts, where)
        events.append(event)
    return header, events


def event_from_json(doc: dict[str, Any], where: str = "event") -> Event:
    """One event from its JSON object; raises :class:`InputError` naming ``where``."""
    kind = doc.get("event")
    if not isinstance(kind, str) or kind not in _REQUIRED:
        raise InputError(f"field 'event' must be one of {', '.join(KINDS)}", where)
    for name in ("txn", *_REQUIRED[kind]):
        if name not in doc:
            raise InputError(f"{kind} event is missing field {name!r}", where)
    if not isinstance(doc["txn"], str):
        raise InputError("field 'txn' must be a string", where)
    for name in ("ts", "worker", "pid"):
        if not _is_int(doc.get(name, 0)):
            raise InputError(f"field {name!r} must be an integer", where)
    if "value" in doc and not _is_int(doc["value"]):
        raise InputError("field 'value' must be an integer", where)
    for name in _TEXT_FIELDS:
        if name in doc and not isinstance(doc[name], str):
            raise InputError(f"field {name!r} must be a string", where)
    return Event(kind, doc["txn"], doc.get("ts", 0), doc.get("worker", 0), doc.get("pid", 0),
                 doc.get("account"), doc.get("value"), doc.get("version"), doc.get("replaced"),
                 doc.get("reason"))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
