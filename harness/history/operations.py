"""From a history's events to operations: each invocation matched to its completion.

An operation's interval is closed, from its invocation to its completion; the times are
the events' ``:time`` when every event has one, else their positions in the history. An
``:info`` operation (crashed, outcome unknown) stays open until the end (its completion
time is infinite), and so does an invocation that never completes. An ``:ok`` operation's
value is its completion's (a read's value is known only then); a failed or crashed one
keeps its invocation's value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.history.formats import Event, HistoryError

if TYPE_CHECKING:
    from harness.history.model import Model

FAIL_SEMANTICS = ("drop", "assert")
"""``drop``: a failed operation had no effect and is left out (Knossos). ``assert``: a
failed operation of a function the model lists in ``asserting`` (a ``cas``) stays, as the
claim that the state did not allow it when it took place (Porcupine's etcd model); other
failed operations are left out."""


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation: ``status`` is ``ok``, ``fail`` or ``info``; ``ret`` is ``math.inf``
    for an ``info`` one; ``ret_line`` is None when it never completed."""

    id: int
    process: Any
    f: str
    value: Any
    key: Any
    status: str
    call: float
    ret: float
    call_line: int
    ret_line: int | None


def operations(events: list[Event], model: Model, fail: str = "drop",
               where: str = "history") -> list[Operation]:
    """The operations of ``events`` that the search must consider, in invocation order."""
    if fail not in FAIL_SEMANTICS:
        raise ValueError(f"fail must be one of {', '.join(FAIL_SEMANTICS)}, got {fail!r}")
    timed = [e.time is not None for e in events]
    if any(timed) and not all(timed):
        line = events[timed.index(False)].line
        raise HistoryError("some events have a time and this one has none", f"{where}: line {line}")
    open_: dict[Any, tuple[float, Event]] = {}
    pairs: list[tuple[float, Event, float, Event | None]] = []
    for position, event in enumerate(events):
        at = event.time if event.time is not None else position
        if event.type == "invoke":
            if event.process in open_:
                raise HistoryError(
                    f"process {event.process} invokes again before its operation of line "
                    f"{open_[event.process][1].line} completed", f"{where}: line {event.line}")
            open_[event.process] = (at, event)
            continue
        if event.process not in open_:
            raise HistoryError(f"process {event.process} completes an operation it never "
                               f"invoked", f"{where}: line {event.line}")
        start, invoke = open_.pop(event.process)
        if event.f != invoke.f:
            raise HistoryError(f"the completion's f {event.f!r} is not the invocation's "
                               f"{invoke.f!r} (line {invoke.line})", f"{where}: line {event.line}")
        if at < start:
            raise HistoryError(f"the completion's time is before its invocation's (line "
                               f"{invoke.line})", f"{where}: line {event.line}")
        pairs.append((start, invoke, at, event))
    pairs.extend((start, invoke, math.inf, None) for start, invoke in open_.values())
    pairs.sort(key=lambda p: p[0])
    ops = []
    for start, invoke, end, done in pairs:
        status = done.type if done is not None else "info"
        if invoke.f not in model.functions:
            raise HistoryError(f"the {model.name} model has no operation {invoke.f!r} (it "
                               f"knows {', '.join(sorted(model.functions))})",
                               f"{where}: line {invoke.line}")
        if status == "fail" and (fail == "drop" or invoke.f not in model.asserting):
            continue
        if status == "info" and invoke.f in model.readonly:
            continue
        value = invoke.value
        if status == "ok" and done.value is not None:
            value = done.value
        key = invoke.key if invoke.key is not None else (done.key if done else None)
        op = Operation(len(ops), invoke.process, invoke.f, value, key, status, start,
                       math.inf if status == "info" else end, invoke.line,
                       done.line if done is not None else None)
        problem = model.invalid(op)
        if problem:
            line = op.ret_line if status == "ok" else op.call_line
            raise HistoryError(problem, f"{where}: line {line}")
        ops.append(op)
    return ops
