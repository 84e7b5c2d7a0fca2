"""Allocation-heavy work: pausing the cyclic garbage collector around it, and keeping
per-transaction bookkeeping compact."""

from __future__ import annotations

import gc
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import repeat
from operator import truediv

from aethel.context import TxResult

_NONE, _OK, _FAILED = 0, 1, 2


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: building a large graph (or indexing a large
    trace) allocates millions of long-lived objects, which it would rescan again and again
    for nothing."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class ResultLog:
    """The result of each of ``n`` transactions (by rank), kept in arrays once installed:
    whether it arrived and committed, its duration and worker, and the reason of each
    failure. The writes are not kept (they are installed, and in the trace): ``log[r]`` is
    the result of rank ``r`` with empty writes, or None before it arrived; assigning
    ``log[r] = result`` records it. Some 17 bytes a transaction instead of a result object
    and its writes (~400 bytes)."""

    __slots__ = ("status", "duration_ns", "worker", "reasons")

    def __init__(self, n: int) -> None:
        self.status = bytearray(n)
        """0 before the result arrived, 1 committed, 2 failed."""
        self.duration_ns = array("q", bytes(8 * n))
        self.worker = array("q", bytes(8 * n))
        self.reasons: dict[int, str | None] = {}
        """The reason of each failed rank."""

    def __len__(self) -> int:
        return len(self.status)

    def __setitem__(self, r: int, result: TxResult) -> None:
        if result.ok:
            self.status[r] = _OK
        else:
            self.status[r] = _FAILED
            self.reasons[r] = result.reason
        self.duration_ns[r] = result.duration_ns
        self.worker[r] = result.worker

    def __getitem__(self, r: int) -> TxResult | None:
        status = self.status[r]
        if status == _NONE:
            return None
        return TxResult(r, status == _OK, self.reasons.get(r), {}, self.duration_ns[r],
                        self.worker[r])

    def __iter__(self) -> Iterator[TxResult | None]:
        return map(self.__getitem__, range(len(self.status)))

    def durations_us(self) -> array:
        """Each rank's duration in µs (0.0 before its result arrived)."""
        return array("d", map(truediv, self.duration_ns, repeat(1e3)))

    def completed(self) -> int:
        """How many results arrived."""
        return len(self.status) - self.status.count(_NONE)
