"""Hand-written traces, for tests and examples: each call appends one event, 1 µs later.

>>> trace = TraceBuilder().start("t1").read("t1", "alice", 100).write("t1", "alice", 70)
>>> [e.kind for e in trace.commit("t1").events]
['START', 'READ', 'WRITE', 'COMMIT']
"""

from __future__ import annotations

from aethel.trace import ABORT, COMMIT, INIT, READ, START, WRITE, Event


class TraceBuilder:
    """Builds a list of events with increasing timestamps (1 µs apart) in call order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def _add(self, kind: str, txn: str, worker: int, account: str | None = None,
             value: int | None = None, version: str | None = None, replaced: str | None = None,
             reason: str | None = None) -> TraceBuilder:
        self.events.append(Event(kind, txn, 1000 * (len(self.events) + 1), worker, 1, account,
                                 value, version, replaced, reason))
        return self

    def start(self, txn: str, worker: int = 0) -> TraceBuilder:
        """``txn`` starts on ``worker``."""
        return self._add(START, txn, worker)

    def read(self, txn: str, account: str, value: int, version: str | None = INIT,
             worker: int = 0) -> TraceBuilder:
        """``txn`` reads ``account`` = ``value`` at ``version`` (``None``: not recorded)."""
        return self._add(READ, txn, worker, account=account, value=value, version=version)

    def write(self, txn: str, account: str, value: int, replaced: str | None = INIT,
              worker: int = 0) -> TraceBuilder:
        """``txn``'s install of ``account`` = ``value`` over version ``replaced`` (``None``:
        not recorded)."""
        return self._add(WRITE, txn, worker, account=account, value=value, replaced=replaced)

    def commit(self, txn: str, worker: int = 0) -> TraceBuilder:
        """``txn`` commits."""
        return self._add(COMMIT, txn, worker)

    def abort(self, txn: str, reason: str = "RuntimeError: failed",
              worker: int = 0) -> TraceBuilder:
        """``txn`` aborts with ``reason``."""
        return self._add(ABORT, txn, worker, reason=reason)
