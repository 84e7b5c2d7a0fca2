"""Running a batch on a database: each transaction one database transaction, all of them at
once on worker threads that each own a connection, with no scheduling of Aethel's: the
database's concurrency control decides what runs when.

The batch's own operations run against a :class:`DatabaseContext`, whose ``read`` and
``write`` are statements on the row ``(name, balance, version)`` of an account. So every
operation, a user's ``call`` included, runs unchanged, and the trace records what the
database showed: the version every read saw and the version every write replaced.

A database target provides a :class:`Session` per worker (its connection, speaking that row
layout) and subclasses :class:`DatabaseExecutor` with the loading of a batch's balances and
the reading of the final ones. docs/targets.md describes the whole.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from aethel.analysis import dependency_graph, serial_order
from aethel.context import check_balance
from aethel.errors import (
    EnvironmentFailure,
    ExecutionError,
    UndeclaredAccessError,
    describe_exception,
)
from aethel.model import ATOMIC, Batch, Transaction
from aethel.outcome import ABORTED, COMMITTED, ROLLED_BACK, SKIPPED, Outcome
from aethel.trace import ABORT, COMMIT, INIT, READ, START, WRITE, Event, TraceRecorder

RETRIES = 10
"""Times a transaction is retried after a serialization failure or a deadlock."""
BACKOFF = 0.001
"""Seconds before the first retry; each further retry waits twice as long (with jitter)."""
BACKOFF_CAP = 0.1
"""The longest wait before a retry (s)."""
WRITER_WAIT = 10.0
"""Seconds a READ waits for the writer of the version it saw to be recorded as ended."""

MIN_WORKERS = 2
"""Transactions of a batch always overlap: at least this many workers run them."""

T = TypeVar("T")


def worker_count(workers: int) -> int:
    """The number of workers (and connections) for the protocol's ``workers``."""
    return max(MIN_WORKERS, workers)


def backoff(retried: int) -> None:
    """Wait before retry number ``retried + 1``: the conflicting transaction may end first."""
    time.sleep(min(BACKOFF_CAP, BACKOFF * 2 ** retried) * random.uniform(0.5, 1.5))


class DatabaseError(Exception):
    """A statement the database refused: ``code`` names it (``SQLSTATE 40001``,
    ``SQLITE_BUSY``); ``retry`` is true for a serialization failure or a deadlock, after
    which the transaction is run again."""

    def __init__(self, code: str, message: str, retry: bool = False) -> None:
        self.code = code
        self.retry = retry
        super().__init__(f"{code}: {message}")


class Session(Protocol):
    """One worker's connection to a table of rows ``(name, balance, version)``.

    A statement the database refuses raises :class:`DatabaseError`; a connection that is
    lost raises :class:`~aethel.errors.EnvironmentFailure`."""

    def begin(self, writes: bool) -> None:
        """Begin a transaction (``writes``: it declares writes)."""

    def read(self, account: str) -> tuple[int, str]:
        """The balance and version of ``account`` as the transaction sees it."""

    def write(self, account: str, value: int, version: str) -> str:
        """Set ``account`` to ``value`` at ``version``; return the version replaced."""

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def close(self) -> None: ...


Failure = BaseException
"""What ended an attempt: an operation's exception, a :class:`DatabaseError` or an
:class:`~aethel.errors.EnvironmentFailure`."""


class DatabaseContext:
    """The :class:`aethel.operations.Context` of one attempt of a transaction on a session.

    Declared accounts and the range of balances are enforced as by
    :class:`aethel.context.ExecutionContext`, with the same errors. Every read and write is a
    statement; nothing is cached. The first read of an account the transaction has not
    written is a READ event, stamped once the writer of the version it saw has ended in the
    trace (a version is visible from the database's commit, its writer's COMMIT is stamped
    when the commit returns). The first write of an account is a WRITE event, holding the
    last value written and the version the first write replaced.
    """

    def __init__(self, transaction: Transaction, session: Session, worker: int, pid: int,
                 ended: Mapping[str, threading.Event]) -> None:
        self.transaction = transaction
        self.session = session
        self.worker = worker
        self.pid = pid
        self.start = time.monotonic_ns()
        self.reads: list[Event] = []
        self.writes: dict[str, Event] = {}
        self.failure: DatabaseError | EnvironmentFailure | None = None
        self._ended = ended
        self._seen: set[str] = set()

    def read(self, account: str) -> int:
        """``account``'s balance, read from the database."""
        if account not in self.transaction.accounts:
            raise UndeclaredAccessError(f"read of undeclared account {account!r}")
        value, version = self._statement(self.session.read, account)
        if account not in self.writes and account not in self._seen:
            self._seen.add(account)
            self._wait_for(version)
            self.reads.append(Event(READ, self.transaction.id, time.monotonic_ns(), self.worker,
                                    self.pid, account, value, version))
        return value

    def write(self, account: str, value: int) -> None:
        """Set ``account``'s balance in the database."""
        if account not in self.transaction.writes:
            raise UndeclaredAccessError(f"write to undeclared account {account!r}")
        check_balance(account, value)
        replaced = self._statement(self.session.write, account, value, self.transaction.id)
        first = self.writes.get(account)
        if first is not None:
            self.writes[account] = first._replace(value=value)
        else:
            self._wait_for(replaced)
            self.writes[account] = Event(WRITE, self.transaction.id, time.monotonic_ns(),
                                         self.worker, self.pid, account, value,
                                         replaced=replaced)

    def run(self) -> Failure | None:
        """Apply the transaction's operations; what failed it, or None.

        A database failure wins over whatever the operation raised afterwards (user code may
        catch it and go on; the database transaction is lost all the same)."""
        try:
            for op in self.transaction.ops:
                op.apply(self, None)
        # Anything an operation raises, SystemExit and KeyboardInterrupt included, fails
        # only this transaction, as in the engine.
        except BaseException as exc:
            return self.failure or exc
        return self.failure

    def _statement(self, call: Callable[..., T], *args: Any) -> T:
        if self.failure is not None:
            raise self.failure
        try:
            return call(*args)
        except (DatabaseError, EnvironmentFailure) as exc:
            self.failure = exc
            raise

    def _wait_for(self, version: str) -> None:
        if version not in (INIT, self.transaction.id):
            ended = self._ended.get(version)
            if ended is not None:
                ended.wait(WRITER_WAIT)


def reason_of(failure: Failure) -> str:
    """An ABORT reason: the database's code and message, else the operation's exception as
    the engine describes it."""
    return str(failure) if isinstance(failure, DatabaseError) else describe_exception(failure)


@dataclass
class DatabaseResult:
    """What :meth:`DatabaseExecutor.execute` returns (the executor protocol's fields).

    A transaction that was run again after a serialization failure or deadlock shows each
    attempt in the trace: its START, its READs and an ABORT naming the database's code, then
    the START of the next attempt (docs/trace-format.md, *Retries*).
    ``metrics['retries']`` counts the attempts run again."""

    final_states: dict[str, int]
    outcomes: dict[str, Outcome]
    execution_trace: list[Event]
    execution_time: float
    metrics: dict[str, float] = field(default_factory=dict)


class _Run:
    """One batch in flight: its trace, the transactions that have ended, the retries."""

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        self.pid = os.getpid()
        self.retries = 0
        self.lock = threading.Lock()
        self.restart()

    def restart(self) -> None:
        """Forget the trace and which transactions ended (the batch is run again)."""
        self.trace = TraceRecorder()
        self.ended = {tx.id: threading.Event() for tx in self.batch.transactions}

    def context(self, tx: Transaction, session: Session, worker: int) -> DatabaseContext:
        return DatabaseContext(tx, session, worker, self.pid, self.ended)

    def end(self, ctx: DatabaseContext, failure: Failure | None) -> None:
        """Record the attempt ``ctx`` as the transaction's execution and mark it ended."""
        tx = ctx.transaction
        if failure is None:
            last = Event(COMMIT, tx.id, time.monotonic_ns(), ctx.worker, self.pid)
        else:
            last = Event(ABORT, tx.id, time.monotonic_ns(), ctx.worker, self.pid,
                         reason=reason_of(failure))
        installs = list(ctx.writes.values()) if failure is None else []
        self.trace.extend([self.started(ctx), *ctx.reads, *installs, last])
        self.ended[tx.id].set()

    def retried(self, ctx: DatabaseContext | None, failure: DatabaseError) -> None:
        """Count a retry and record the attempt ``ctx`` (if one failed) as an aborted
        attempt: its START, its READs (it installed nothing) and an ABORT naming the
        database's code."""
        with self.lock:
            self.retries += 1
        if ctx is not None:
            self.trace.extend([self.started(ctx), *ctx.reads, Event(
                ABORT, ctx.transaction.id, time.monotonic_ns(), ctx.worker, self.pid,
                reason=str(failure))])

    def started(self, ctx: DatabaseContext) -> Event:
        return Event(START, ctx.transaction.id, ctx.start, ctx.worker, self.pid)


class DatabaseExecutor:
    """An executor (docs/executor-protocol.md) that runs every transaction of a batch as one
    database transaction, all at once on one thread per session.

    Subclasses open the sessions and implement :meth:`load`, :meth:`balances` and
    :meth:`close`. A serialization failure or deadlock (``DatabaseError.retry``) rolls the
    attempt back and runs the transaction again, up to ``retries`` times; any other
    failure aborts it with its reason. ``after`` is not enforced. An atomic batch runs as
    one database transaction on one session, in serial order.
    """

    def __init__(self, sessions: Sequence[Session], retries: int = RETRIES) -> None:
        self.sessions = list(sessions)
        self.retries = retries

    def load(self, accounts: Mapping[str, int]) -> None:
        """Make the table hold exactly ``accounts``, every row at version ``init``."""
        raise NotImplementedError

    def balances(self) -> dict[str, int]:
        """Every account's committed balance."""
        raise NotImplementedError

    def close(self) -> None:
        """Close every session."""
        for session in self.sessions:
            session.close()

    def execute(self, batch: Batch) -> DatabaseResult:
        """Run ``batch`` (see the class)."""
        began = time.perf_counter()
        self.load(batch.accounts)
        run = _Run(batch)
        if batch.mode == ATOMIC:
            outcomes = self._atomic(batch, run)
        else:
            outcomes = self._concurrent(batch, run)
        return DatabaseResult(self.balances(), outcomes, run.trace.events(),
                              time.perf_counter() - began, {"retries": float(run.retries)})

    def _concurrent(self, batch: Batch, run: _Run) -> dict[str, Outcome]:
        """Every transaction on the next free worker; the workers start together."""
        pending = deque(batch.transactions)
        outcomes: dict[str, Outcome] = {}
        errors: list[BaseException] = []
        barrier = threading.Barrier(len(self.sessions))

        def work(worker: int) -> None:
            session = self.sessions[worker]
            try:
                barrier.wait()
                while not errors:
                    try:
                        tx = pending.popleft()
                    except IndexError:
                        return
                    outcomes[tx.id] = self._transaction(tx, session, worker, run)
            except BaseException as exc:  # handed to the caller of execute()
                errors.append(exc)
                barrier.abort()

        threads = [threading.Thread(target=work, args=(w,), name=f"aethel-db-worker-{w}",
                                    daemon=True) for w in range(len(self.sessions))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        return {tx.id: outcomes[tx.id] for tx in batch.transactions}

    def _transaction(self, tx: Transaction, session: Session, worker: int, run: _Run
                     ) -> Outcome:
        """One transaction, retried after serialization failures and deadlocks."""
        retried = 0
        while True:
            ctx = run.context(tx, session, worker)
            failure = _attempt(ctx, session, bool(tx.writes))
            if isinstance(failure, EnvironmentFailure):
                raise failure
            if isinstance(failure, DatabaseError) and failure.retry and retried < self.retries:
                run.retried(ctx, failure)
                backoff(retried)
                retried += 1
                continue
            run.end(ctx, failure)
            if failure is None:
                return Outcome(COMMITTED)
            return Outcome(ABORTED, reason_of(failure))

    def _atomic(self, batch: Batch, run: _Run) -> dict[str, Outcome]:
        """The batch as one database transaction on the first session, in serial order: the
        first failing transaction rolls everything back. Run again as a whole after a
        serialization failure or deadlock, with a fresh trace (the transactions of the run
        given up had shown COMMITs the database then undid)."""
        by_id = {tx.id: tx for tx in batch.transactions}
        order = [by_id[t] for t in serial_order(dependency_graph(batch))]
        session = self.sessions[0]
        retried = 0
        while True:
            failure, failed = _guard(lambda: session.begin(True)), None
            done: list[DatabaseContext] = []
            for tx in order if failure is None else ():
                ctx = run.context(tx, session, 0)
                failure = ctx.run()
                if failure is not None:
                    failed = ctx
                    break
                run.end(ctx, None)
                done.append(ctx)
            if failure is None:
                failure = _guard(session.commit)
                if failure is None:
                    return {tx.id: Outcome(COMMITTED) for tx in batch.transactions}
            if isinstance(failure, EnvironmentFailure):
                raise failure
            session.rollback()
            if isinstance(failure, DatabaseError) and failure.retry and retried < self.retries:
                run.retried(None, failure)
                run.restart()
                backoff(retried)
                retried += 1
                continue
            if failed is None:
                raise ExecutionError(f"the database refused the atomic batch ({failure})",
                                     len(done), len(order) - len(done), run.trace.events(),
                                     self.balances())
            run.end(failed, failure)
            outcomes = {tx.id: Outcome(SKIPPED) for tx in batch.transactions}
            outcomes.update((ctx.transaction.id, Outcome(ROLLED_BACK)) for ctx in done)
            outcomes[failed.transaction.id] = Outcome(ABORTED, reason_of(failure))
            return outcomes


def _guard(call: Callable[[], None]) -> DatabaseError | EnvironmentFailure | None:
    """What ``call`` raised of a database's failures, or None."""
    try:
        call()
    except (DatabaseError, EnvironmentFailure) as exc:
        return exc
    return None


def _attempt(ctx: DatabaseContext, session: Session, writes: bool) -> Failure | None:
    """Begin, apply the operations, commit (else roll back); what failed, or None."""
    failure = _guard(lambda: session.begin(writes))
    if failure is None:
        failure = ctx.run()
        if failure is None:
            failure = _guard(session.commit)
            if failure is None:
                return None
    if not isinstance(failure, EnvironmentFailure):
        session.rollback()
    return failure
