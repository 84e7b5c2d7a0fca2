"""Execution traces: events, a thread-safe recorder, JSON Lines import and export.

The format is specified in docs/trace-format.md. Timestamps are ``time.monotonic_ns()``,
which on Linux is one clock for every process of the machine.
"""

from __future__ import annotations

import json
import threading
from array import array
from collections.abc import Collection, Iterable, Mapping, Sequence
from itertools import compress, repeat
from operator import is_not, itemgetter
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


KIND_CODES = {kind: code for code, kind in enumerate(KINDS)}
"""The code of each kind in a trace's ``kind`` column (its index in :data:`KINDS`)."""
START_CODE, READ_CODE, WRITE_CODE, COMMIT_CODE, ABORT_CODE = range(len(KINDS))
Row = tuple[int, int, int, int, int, "str | None", "int | None", "str | None", "str | None"]
"""One event as a row: (ts, kind code, transaction index, worker, pid, account, value,
version (READ) or replaced (WRITE), reason)."""


class TraceColumns:
    """Events as columns: timestamps, kind codes, transaction indices (into ``names``),
    workers and pids in compact arrays; accounts, values and versions (a READ's ``version``,
    a WRITE's ``replaced``) as lists of objects shared with the run; the rare ABORT reasons
    by row. Rows are appended in bulk (:meth:`extend_rows`,
    :meth:`extend`), never one object per event. (An array is built from a tuple or list
    about twice as fast as it is extended by one, which goes item by item.)"""

    __slots__ = ("ts", "kind", "txn", "worker", "pid", "account", "value", "version", "reason")

    def __init__(self) -> None:
        self.ts = array("q")
        self.kind = array("b")
        self.txn = array("i")
        self.worker = array("q")
        self.pid = array("q")
        self.account: list[str | None] = []
        self.value: list[int | None] = []
        self.version: list[str | None] = []
        self.reason: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.ts)

    def extend_rows(self, rows: list[Row]) -> None:
        """Append ``rows`` (transposed in bulk)."""
        if not rows:
            return
        base = len(self.ts)
        ts, kind, txn, worker, pid, account, value, version, reason = zip(*rows, strict=True)
        self.ts.extend(array("q", ts))
        self.kind.extend(array("b", kind))
        self.txn.extend(array("i", txn))
        self.worker.extend(array("q", worker))
        self.pid.extend(array("q", pid))
        self.account.extend(account)
        self.value.extend(value)
        self.version.extend(version)
        self.reason.update((base + i, r) for i, r in enumerate(reason) if r is not None)

    def extend(self, other: TraceColumns) -> None:
        """Append every row of ``other``."""
        base = len(self.ts)
        for name in ("ts", "kind", "txn", "worker", "pid", "account", "value", "version"):
            getattr(self, name).extend(getattr(other, name))
        self.reason.update((base + i, r) for i, r in other.reason.items())

    def events(self, names: Sequence[str]) -> list[Event]:
        """The rows as :class:`Event` objects (transaction ``i`` is ``names[i]``), in row
        order."""
        reason = self.reason
        kinds = KINDS
        return [Event(kinds[k], names[t], ts, w, p, a, v,
                      ver if k == READ_CODE else None, ver if k == WRITE_CODE else None,
                      reason.get(i))
                for i, (ts, k, t, w, p, a, v, ver) in enumerate(zip(
                    self.ts, self.kind, self.txn, self.worker, self.pid, self.account,
                    self.value, self.version, strict=True))]

    @classmethod
    def exact_block(cls, events: Sequence[tuple], index: Mapping[str, int]
                    ) -> TraceColumns | None:
        """Columns of ``events`` (:class:`Event` objects, or plain tuples of their fields)
        transposed in bulk, or None unless the columns give them back exactly: every
        transaction in ``index``, integer fields that fit the arrays, a ``version`` on READ
        events only and a ``replaced`` on WRITE events only."""
        if not events:
            return cls()
        try:
            kind, txn, ts, worker, pid, account, value, version, replaced, reason = zip(
                *events, strict=True)
            codes = bytes(map(KIND_CODES.__getitem__, kind))
            versioned = bytes(compress(codes, map(is_not, version, repeat(None))))
            rewritten = bytes(compress(codes, map(is_not, replaced, repeat(None))))
            if versioned.count(READ_CODE) != len(versioned) \
                    or rewritten.count(WRITE_CODE) != len(rewritten):
                return None
            block = cls()
            block.ts = array("q", ts)
            block.kind.frombytes(codes)
            block.txn = array("i", list(map(index.__getitem__, txn)))
            block.worker = array("q", worker)
            block.pid = array("q", pid)
        except (KeyError, TypeError, ValueError, OverflowError):
            return None
        block.account.extend(account)
        block.value.extend(value)
        block.version.extend(version if not rewritten else
                             map(_version_of, codes, version, replaced))
        block.reason.update((i, r) for i, r in enumerate(reason) if r is not None)
        return block

    @classmethod
    def from_events(cls, events: Iterable[Event], index: Mapping[str, int]) -> TraceColumns:
        """Columns of ``events``; transaction ids become their ``index``."""
        columns = cls()
        columns.extend_rows([(e.ts, KIND_CODES[e.kind], index[e.txn], e.worker, e.pid,
                              e.account, e.value,
                              e.version if e.kind == READ else e.replaced, e.reason)
                             for e in events])
        return columns

    def __getstate__(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for name, value in zip(self.__slots__, state, strict=True):
            setattr(self, name, value)


class TraceRecorder:
    """Collects events from any number of threads; ``events()`` returns them in time order.

    Events arrive as objects (:meth:`record`, :meth:`extend`: a worker thread's START and
    READ) or in bulk as columns (:meth:`extend_columns`, :meth:`extend_rows`: a worker
    process's chunk, the coordinator's installs), which are kept as :class:`TraceColumns`;
    ``names`` maps their transaction indices to ids. When ``index`` (id → index into
    ``names``) is set, the events recorded as objects join the columns too, in bulk, each
    time a block of rows or columns arrives: a long run keeps no object per event. A
    subclass that overrides :meth:`record` or :meth:`extend` receives the bulk events
    through them, as objects (and keeps every event an object).
    """

    def __init__(self) -> None:
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self.columns = TraceColumns()
        self.names: Sequence[str] = ()
        self.index: Mapping[str, int] | None = None
        cls = type(self)
        self._objects_only = (cls.record is not TraceRecorder.record
                              or cls.extend is not TraceRecorder.extend)

    def record(self, event: Event) -> None:
        with self._lock:
            self._events.append(event)

    def extend(self, events: Iterable[Event]) -> None:
        with self._lock:
            self._events.extend(events)

    def extend_columns(self, columns: TraceColumns) -> None:
        """Record the events of ``columns`` (transaction indices into :attr:`names`)."""
        if self._objects_only:
            self.extend(columns.events(self.names))
            return
        with self._lock:
            self._absorb()
            self.columns.extend(columns)

    def extend_rows(self, rows: list[Row]) -> None:
        """Record the events of ``rows`` (see :data:`Row`)."""
        if self._objects_only:
            block = TraceColumns()
            block.extend_rows(rows)
            for event in block.events(self.names):
                self.record(event)
            return
        with self._lock:
            self._absorb()
            self.columns.extend_rows(rows)

    def _absorb(self) -> None:
        """Move the events recorded as objects into the columns (with ``index``, when the
        columns give them back exactly; the lock is held)."""
        if self.index is None or not self._events:
            return
        block = TraceColumns.exact_block(self._events, self.index)
        if block is not None:
            self.columns.extend(block)
            self._events = []

    def column_view(self) -> tuple[TraceColumns, Sequence[str]] | None:
        """The recorded events as (columns, transaction names), in recording order, when
        every event is kept in the columns (None if some are kept as objects)."""
        with self._lock:
            return None if self._events else (self.columns, self.names)

    def __len__(self) -> int:
        """How many events were recorded (without building them)."""
        with self._lock:
            return len(self._events) + len(self.columns)

    def events(self) -> list[Event]:
        with self._lock:
            events = [*self._events, *self.columns.events(self.names)]
        events.sort(key=_ts)
        return events

    def __getstate__(self) -> dict[str, Any]:
        with self._lock:
            return {"_events": list(self._events), "columns": self.columns,
                    "names": list(self.names), "index": None,
                    "_objects_only": self._objects_only}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.index = None
        self.__dict__.update(state)
        self._lock = threading.Lock()


_ts = itemgetter(2)


def _version_of(code: int, version: str | None, replaced: str | None) -> str | None:
    """The ``version`` column of one row: a READ's version, a WRITE's ``replaced``."""
    return replaced if code == WRITE_CODE else version


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
