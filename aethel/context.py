"""Running one transaction in isolation.

A transaction sees a snapshot of only its declared accounts (value and version of
each) and produces write deltas: the new balances of the accounts it wrote. It never
touches the shared state; the executor installs the deltas in dependency order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import NamedTuple

from aethel.errors import AmountOverflowError, UndeclaredAccessError, describe_exception
from aethel.model import MAX_AMOUNT, Transaction
from aethel.trace import READ, START, Event

Snapshot = Mapping[str, tuple[int, str]]
"""Account → (balance, version) for the declared accounts of one transaction."""

Recorder = Callable[[Event], None]


def discard(event: tuple) -> None:
    """A recorder that keeps nothing, for a run whose events nobody reads (an oracle's, a
    replay's, a benchmark's)."""


def check_balance(account: str, value: int) -> None:
    """Refuse a balance outside [0, 2^63-1] for ``account`` (an :class:`AmountOverflowError`
    naming it)."""
    if value > MAX_AMOUNT:
        raise AmountOverflowError(f"overflow: balance of {account} would exceed 2^63-1")
    if value < 0:
        raise AmountOverflowError(f"underflow: balance of {account} would be negative")


class TxResult(NamedTuple):
    """What a worker returns for one transaction.

    ``writes`` are the write deltas; when ``ok`` is false they are the writes made before the
    failure, which the executor discards (the harness's dirty-read mutant installs them).
    """

    index: int
    ok: bool
    reason: str | None
    writes: dict[str, int]
    duration_ns: int
    worker: int


_event: Callable[[tuple], Event] = partial(tuple.__new__, Event)
"""An :class:`Event` of every field, built in C (the named tuple's ``__new__``, which fills
in defaults, runs Python)."""
as_result: Callable[[tuple], TxResult] = partial(tuple.__new__, TxResult)
"""A :class:`TxResult` of every field, built in C (``TxResult._make`` runs Python); also
what a result sent between processes as a plain tuple is turned back into."""


class ExecutionContext:
    """One running transaction: the transaction, its snapshot, worker id and start time.

    ``read`` and ``write`` are the only way operations reach balances; both enforce the
    declared sets, and the first read of an account records a READ event with the
    version observed (``plain``: as a plain tuple of :class:`Event`'s fields, see
    :func:`run_transaction`).
    """

    __slots__ = ("transaction", "snapshot", "worker_id", "start_time", "pid", "_record",
                 "_event", "_writes", "_seen")

    def __init__(self, transaction: Transaction, snapshot: Snapshot, worker_id: int, pid: int,
                 record: Recorder, plain: bool = False) -> None:
        self.transaction = transaction
        self.snapshot = snapshot
        self.worker_id = worker_id
        self.pid = pid
        self.start_time = time.monotonic_ns()
        self._record = record
        self._event = tuple if plain else _event
        self._writes: dict[str, int] = {}
        self._seen: set[str] = set()

    def read(self, account: str) -> int:
        """The transaction's current view of ``account``."""
        if account in self._writes:
            return self._writes[account]
        if account not in self.transaction.accounts:
            raise UndeclaredAccessError(f"read of undeclared account {account!r}")
        value, version = self.snapshot[account]
        if account not in self._seen:
            self._seen.add(account)
            self._record(self._event((READ, self.transaction.id, time.monotonic_ns(),
                                 self.worker_id, self.pid, account, value, version, None,
                                 None)))
        return value

    def write(self, account: str, value: int) -> None:
        """Set ``account`` in the transaction's private write set."""
        if account not in self.transaction.writes:
            raise UndeclaredAccessError(f"write to undeclared account {account!r}")
        check_balance(account, value)
        self._writes[account] = value

    @property
    def writes(self) -> dict[str, int]:
        return self._writes


def run_transaction(index: int, tx: Transaction, snapshot: Snapshot, worker: int, pid: int,
                    record: Recorder, cancel: threading.Event | None = None,
                    plain: bool = False) -> TxResult:
    """Run ``tx`` against ``snapshot``; record START and READ events; never raise for a
    transaction failure (it becomes ``ok=False`` with a reason). ``plain``: record each
    event as a plain tuple of :class:`Event`'s fields, for a recorder that only transposes
    them into columns (a named tuple takes several times longer to build)."""
    ctx = ExecutionContext(tx, snapshot, worker, pid, record, plain)
    record(ctx._event((START, tx.id, ctx.start_time, worker, pid, None, None, None, None,
                       None)))
    try:
        for op in tx.ops:
            op.apply(ctx, cancel)
    # Anything a user operation raises, SystemExit and KeyboardInterrupt included, aborts
    # only this transaction: it must neither kill a worker nor escape the executor.
    except BaseException as exc:
        return as_result((index, False, describe_exception(exc), ctx.writes,
                        time.monotonic_ns() - ctx.start_time, worker))
    return as_result((index, True, None, ctx.writes, time.monotonic_ns() - ctx.start_time,
                    worker))
