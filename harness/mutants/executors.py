"""Mutant executors: the real :class:`~aethel.executor.ParallelExecutor`, each with exactly
one deliberate bug, to prove that the checkers catch that class of bug.

Each mutant overrides one small part of the engine through its public extension points —
the dependency graph it is given, one hook of its :class:`~aethel.executor.Coordinator`
(named by ``ParallelExecutor.coordinator_class``), the operations its workers run, or its
worker threads' loop (``ThreadPool.worker_main``) — and reuses everything else. They
are meant for the thread backend, where transactions really run concurrently. Never use them
for anything but testing the harness.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import networkx as nx

from aethel.analysis import WAW, dependency_graph
from aethel.backends import Pool, ThreadPool, run_chunk
from aethel.context import ExecutionContext, Snapshot, TxResult
from aethel.errors import InsufficientFundsError
from aethel.executor import Coordinator, ExecutionResult, ParallelExecutor
from aethel.model import MAX_AMOUNT, Batch, Transaction
from aethel.operations import Call, Operation, Transfer, Withdraw
from aethel.trace import READ, START, Event, TraceRecorder


class IgnoresDependencies(ParallelExecutor):
    """Mutant 1: ignores the dependency graph — every transaction in one parallel group."""

    bug = "ignores dependencies: every transaction is ready at once"

    def execute(self, batch: Batch, graph: nx.DiGraph | None = None, *,
                schedule: str | None = None) -> ExecutionResult:
        """Run ``batch`` with a dependency graph that has no edges."""
        full = graph if graph is not None else dependency_graph(batch)
        flat = nx.DiGraph()
        flat.add_nodes_from(full.nodes(data=True))
        return super().execute(batch, flat, schedule=schedule)


class CompletionOrderInstalls(ParallelExecutor):
    """Mutant 5: treats write-write conflicts as independent, so blind writes to one account
    run in parallel and install in completion order instead of dependency order."""

    bug = "write-write conflicts ignored: installs land in completion order"

    def execute(self, batch: Batch, graph: nx.DiGraph | None = None, *,
                schedule: str | None = None) -> ExecutionResult:
        """Run ``batch`` without its write-write-only dependency edges."""
        pruned = (graph if graph is not None else dependency_graph(batch)).copy()
        pruned.remove_edges_from([(u, v) for u, v, conflicts in pruned.edges(data="conflicts")
                                  if all(kind == WAW for kind, _ in conflicts)])
        return super().execute(batch, pruned, schedule=schedule)


class _WholeStateMergeCoordinator(Coordinator):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.copies: dict[int, dict[str, tuple[int, str]]] = {}

    def snapshot(self, r: int, tx: Transaction) -> Snapshot:
        copy = dict(self.state)
        self.copies[r] = copy
        return dict(copy)

    def install(self, result: TxResult) -> None:
        copy = self.copies.pop(result.index)
        if result.ok and (self.failed is None or result.index < self.failed):
            self.state.update(copy)
        super().install(result)


class WholeStateMerge(ParallelExecutor):
    """Mutant 2: each transaction works on a copy of every account and the merge writes the
    whole copy back, silently reverting what others installed meanwhile (lost update)."""

    bug = "whole-state copy-on-write merge: every account is written back"
    coordinator_class = _WholeStateMergeCoordinator


class _StaleSnapshotCoordinator(Coordinator):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deferred: TxResult | None = None

    def install(self, result: TxResult) -> None:
        previous, self.deferred = self.deferred, result
        if previous is not None:
            super().install(previous)

    def drain(self, pool: Pool, release: bool) -> None:
        super().drain(pool, release)
        if self.deferred is not None:
            last, self.deferred = self.deferred, None
            super().install(last)


class StaleSnapshot(ParallelExecutor):
    """Mutant 3: releases a transaction's successors before its writes are installed (the
    install waits for the next result), so they start from a stale snapshot."""

    bug = "stale snapshot: successors start before the writes they need are installed"
    coordinator_class = _StaleSnapshotCoordinator


class _NonAtomicRollbackCoordinator(Coordinator):
    def rollback(self) -> None:
        if self.undo:
            self.undo.pop(next(reversed(self.undo)))
        super().rollback()


class NonAtomicRollback(ParallelExecutor):
    """Mutant 4: the rollback of a failed atomic batch forgets the account installed last."""

    bug = "non-atomic rollback: one account's writes survive a failed atomic batch"
    coordinator_class = _NonAtomicRollbackCoordinator


class _DirtyReadCoordinator(Coordinator):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.uncommitted: dict[str, tuple[int, str]] = {}

    def snapshot(self, r: int, tx: Transaction) -> Snapshot:
        snapshot = super().snapshot(r, tx)
        snapshot.update((a, v) for a, v in self.uncommitted.items() if a in snapshot)
        return snapshot

    def install(self, result: TxResult) -> None:
        tx = self.transactions[result.index]
        if result.ok:
            for account in result.writes:
                self.uncommitted.pop(account, None)
        else:
            self.uncommitted.update((a, (v, tx.id)) for a, v in result.writes.items())
        super().install(result)


class DirtyRead(ParallelExecutor):
    """Mutant 6: publishes the writes a transaction made before it failed; later snapshots
    see them (until the account is next installed) although the transaction aborted."""

    bug = "dirty read: writes of a transaction that aborts are visible to later ones"
    coordinator_class = _DirtyReadCoordinator


class LossyRecorder(TraceRecorder):
    """A trace recorder without synchronisation: ``record`` copies the list, appends and
    stores the copy, so an event recorded by another thread in between is lost."""

    def record(self, event: Event) -> None:
        """Append ``event`` without the lock (read, copy, store)."""
        events = list(self._events)
        events.append(event)
        self._events = events


class _UnsynchronisedTraceCoordinator(Coordinator):
    recorder_class = LossyRecorder


class UnsynchronisedTrace(ParallelExecutor):
    """Mutant 7: records the trace without a lock; events are lost under contention."""

    bug = "unsynchronised trace recording: events lost under contention"
    coordinator_class = _UnsynchronisedTraceCoordinator


def unrestricted(tx: Transaction, accounts: tuple[str, ...]) -> Transaction:
    """``tx`` with every account declared, for itself and for its user-defined operations."""
    ops = tuple(replace(op, call_reads=accounts, call_writes=accounts) if isinstance(op, Call)
                else op for op in tx.ops)
    everything = frozenset(accounts)
    return Transaction(tx.id, ops, everything, everything, tx.after)


class _UnenforcedCoordinator(Coordinator):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        accounts = tuple(sorted(self.batch.accounts))
        self.transactions = [unrestricted(tx, accounts) for tx in self.transactions]


class UndeclaredAccess(ParallelExecutor):
    """Mutant 8: does not enforce declared sets — the scheduler trusts the declarations,
    but workers let a transaction read and write any account."""

    bug = "undeclared accesses not enforced"
    coordinator_class = _UnenforcedCoordinator


class _TornInstallCoordinator(Coordinator):
    def install(self, result: TxResult) -> None:
        if result.ok and len(result.writes) > 1:
            first = next(iter(result.writes))
            result = result._replace(writes={first: result.writes[first]})
        super().install(result)


class TornInstall(ParallelExecutor):
    """Mutant 9: installs only the first write of a transaction (a torn multi-account
    install: a transfer debits without crediting)."""

    bug = "torn install: only the first account of a transaction is installed"
    coordinator_class = _TornInstallCoordinator


class _TimeoutKeepsWritesCoordinator(Coordinator):
    def stopped(self, error: type, message: str) -> Exception:
        self.undo = {}
        return super().stopped(error, message)


class TimeoutKeepsWrites(ParallelExecutor):
    """Mutant 10: when the batch is stopped (a timeout), forgets its undo log, so the
    balances it reports keep the writes already installed."""

    bug = "no rollback on a timeout: installed writes survive"
    coordinator_class = _TimeoutKeepsWritesCoordinator


@dataclass(frozen=True, slots=True)
class _Wrapped:
    """An operation standing in for ``op``: same kind, declared accounts and cost (subclasses
    say how it applies)."""

    op: Operation

    @property
    def kind(self) -> str:
        return self.op.kind

    @property
    def reads(self) -> tuple[str, ...]:
        return self.op.reads

    @property
    def writes(self) -> tuple[str, ...]:
        return self.op.writes

    def cost_us(self) -> float:
        return self.op.cost_us()


class _ContextView:
    """What a wrapped operation sees instead of its context: the context's reads and writes,
    except where a mutant overrides them."""

    __slots__ = ("ctx",)

    def __init__(self, ctx: ExecutionContext) -> None:
        self.ctx = ctx

    def read(self, account: str) -> int:
        return self.ctx.read(account)

    def write(self, account: str, value: int) -> None:
        self.ctx.write(account, value)


@dataclass(frozen=True, slots=True)
class _Viewed(_Wrapped):
    """``op`` applied to a ``view`` of the context."""

    view: type[_ContextView]

    def apply(self, ctx: ExecutionContext, cancel: threading.Event | None) -> None:
        self.op.apply(self.view(ctx), cancel)


class _RewritingCoordinator(Coordinator):
    """A coordinator whose workers run :meth:`rewrite` of each transaction."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.transactions = [Transaction(tx.id, tuple(map(self.rewrite, tx.ops)), tx.reads,
                                         tx.writes, tx.after) for tx in self.transactions]

    def rewrite(self, op: Operation) -> Operation:
        """What the workers run for ``op``."""
        return op


class _SnapshotReads(_ContextView):
    def read(self, account: str) -> int:
        self.ctx.read(account)  # the declared-set check and the READ event
        return self.ctx.snapshot[account][0]


class _OwnWriteNotSeenCoordinator(_RewritingCoordinator):
    def rewrite(self, op: Operation) -> Operation:
        return _Viewed(op, _SnapshotReads)


class OwnWriteNotSeen(ParallelExecutor):
    """Mutant 11: a read returns the snapshot's balance even after the transaction wrote the
    account, so an operation does not see an earlier operation's write (a deposit then a
    withdrawal on one account, a self-transfer)."""

    bug = "own writes not seen: a read returns the snapshot, not the pending write"
    coordinator_class = _OwnWriteNotSeenCoordinator


class _SaturatingWrites(_ContextView):
    def write(self, account: str, value: int) -> None:
        self.ctx.write(account, min(value, MAX_AMOUNT))


class _SaturatingOverflowCoordinator(_RewritingCoordinator):
    def rewrite(self, op: Operation) -> Operation:
        return _Viewed(op, _SaturatingWrites)


class SaturatingOverflow(ParallelExecutor):
    """Mutant 12: a credit beyond 2^63-1 saturates at 2^63-1 (as a saturating add would)
    instead of failing the transaction, destroying the excess."""

    bug = "saturating overflow: a credit beyond 2^63-1 is clamped instead of failing"
    coordinator_class = _SaturatingOverflowCoordinator


@dataclass(frozen=True, slots=True)
class _ExactDebitRefused(_Wrapped):
    """A withdrawal or transfer whose funds check is ``balance <= amount``."""

    def apply(self, ctx: ExecutionContext, cancel: threading.Event | None) -> None:
        op = self.op
        if isinstance(op, Transfer):
            source, what = op.src, "transfer"
        else:
            source, what = op.account, "withdrawal"
        balance = ctx.read(source)
        if balance <= op.amount:
            raise InsufficientFundsError(f"insufficient funds: {source} has {balance}, "
                                         f"{what} needs {op.amount}")
        op.apply(ctx, cancel)


class _OffByOneFundsCoordinator(_RewritingCoordinator):
    def rewrite(self, op: Operation) -> Operation:
        return _ExactDebitRefused(op) if isinstance(op, (Withdraw, Transfer)) else op


class OffByOneFunds(ParallelExecutor):
    """Mutant 13: the funds check of a debit is off by one (``balance <= amount``), so a
    withdrawal or transfer of exactly the balance — emptying an account — fails."""

    bug = "off-by-one funds check: a debit of exactly the balance is refused"
    coordinator_class = _OffByOneFundsCoordinator


HOT_ACCOUNT = 3
"""How many transactions of a batch must declare an account for the install cache to hold it."""


class _CachedSnapshot(dict):
    """A snapshot that knows the install cache its transaction's writes go to."""

    __slots__ = ("cache", "hot")

    def __init__(self, entries: Iterable[tuple[str, tuple[int, str]]],
                 cache: dict[str, tuple[int, str]], hot: frozenset[str]) -> None:
        super().__init__(entries)
        self.cache = cache
        self.hot = hot

    def update_cache(self, version: str, writes: dict[str, int]) -> None:
        """Cache the hot accounts of ``writes`` as ``version``."""
        for account, value in writes.items():
            if account in self.hot:
                self.cache[account] = (value, version)


def _caching_thread_main(tasks: queue.SimpleQueue, results: queue.SimpleQueue,
                         worker: int) -> None:
    pid = os.getpid()
    while (item := tasks.get()) is not None:
        chunk, record, cancel = item
        done = run_chunk(chunk, worker, pid, record, cancel)
        results.put(done)
        for (_, tx, snapshot), result in zip(chunk, done, strict=True):
            if result.ok and isinstance(snapshot, _CachedSnapshot):
                snapshot.update_cache(tx.id, result.writes)


class _CachingThreadPool(ThreadPool):
    """Worker threads that put their writes in the install cache once they have handed their
    results back."""

    worker_main = staticmethod(_caching_thread_main)


class _InstallCacheCoordinator(Coordinator):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        declared = Counter(a for tx in self.transactions for a in tx.accounts)
        self.hot = frozenset(a for a, n in declared.items() if n >= HOT_ACCOUNT)
        self.cache: dict[str, tuple[int, str]] = {}

    def snapshot(self, r: int, tx: Transaction) -> Snapshot:
        return _CachedSnapshot(((a, self.cache.get(a) or self.state[a]) for a in tx.accounts),
                               self.cache, self.hot)


class HotAccountLostUpdate(ParallelExecutor):
    """Mutant 14: snapshots of hot accounts (declared by three or more transactions) are
    served from an install cache, which a worker updates with its writes after handing back
    its result, off the coordinator's path. If that worker is switched out in between, a
    dependant released by the install reads the previous writer's cached balance, and its own
    install loses the update. Thread backend only."""

    bug = "install cache updated after the result: a hot account's update is lost in a race"
    coordinator_class = _InstallCacheCoordinator

    def start_pool(self) -> Pool:
        """Worker threads that update the install cache (other backends: the usual pool)."""
        if self.backend == "thread":
            return _CachingThreadPool(self.workers)
        return super().start_pool()


class _PreviousVersionCoordinator(Coordinator):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.previous: dict[str, str] = {}

    def snapshot(self, r: int, tx: Transaction) -> Snapshot:
        return {a: (value, self.previous.get(a, version))
                for a, (value, version) in super().snapshot(r, tx).items()}

    def install(self, result: TxResult) -> None:
        before = {a: self.state[a][1] for a in result.writes}
        super().install(result)
        for account, version in before.items():
            if self.state[account][1] != version:
                self.previous[account] = version


class WrongReadVersion(ParallelExecutor):
    """Mutant 15: a snapshot pairs each balance with the version its last install replaced
    (an off-by-one into the account's version history), so READ events name the previous
    version while the balances read and installed are right."""

    bug = "wrong read version: a READ names the version before the one read"
    coordinator_class = _PreviousVersionCoordinator


WORKER_CLOCK_SKEW_NS = 60 * 10**9
"""How far ahead of the coordinator's clock worker ``k``'s clock runs: ``k + 1`` times this."""


def _on_worker_clock(event: Event) -> Event:
    """``event`` as its worker stamps it: START and READ on the worker's clock."""
    if event.kind not in (START, READ):
        return event
    return event._replace(ts=event.ts + (event.worker + 1) * WORKER_CLOCK_SKEW_NS)


class SkewedRecorder(TraceRecorder):
    """A recorder for workers that stamp their events (START, READ) from a clock of their
    own, ``worker + 1`` minutes ahead of the coordinator's (as per-process clocks with
    different origins would be)."""

    def record(self, event: Event) -> None:
        """Record ``event`` on its stamper's clock."""
        super().record(_on_worker_clock(event))

    def extend(self, events: Iterable[Event]) -> None:
        """Record ``events`` on their stampers' clocks."""
        super().extend(map(_on_worker_clock, events))


class _SkewedClockCoordinator(Coordinator):
    recorder_class = SkewedRecorder


class SkewedClock(ParallelExecutor):
    """Mutant 16: each worker stamps its events from its own clock, minutes away from the
    coordinator's, which stamps installs, commits and aborts; the trace's time order is
    meaningless."""

    bug = "skewed clocks: each worker stamps events minutes off the coordinator's clock"
    coordinator_class = _SkewedClockCoordinator


class IgnoresForwardAfter(ParallelExecutor):
    """Mutant 17: drops every ``after`` that names a later transaction of the batch (taking
    the serial order to be batch order), so a transaction can start before the one it must
    follow has ended."""

    bug = "forward after ignored: the serial order is batch order"

    def execute(self, batch: Batch, graph: nx.DiGraph | None = None, *,
                schedule: str | None = None) -> ExecutionResult:
        """Run ``batch`` with the dependency graph of its backward ``after`` only (a given
        ``graph`` is not used)."""
        position = {tx.id: i for i, tx in enumerate(batch.transactions)}
        backward = tuple(replace(tx, after=tuple(d for d in tx.after if position[d] < i))
                         for i, tx in enumerate(batch.transactions))
        return super().execute(batch, dependency_graph(Batch(batch.accounts, backward,
                                                             batch.mode)), schedule=schedule)
