"""Mutant executors: the real :class:`~aethel.executor.ParallelExecutor`, each with exactly
one deliberate bug, to prove that the checkers catch that class of bug.

Each mutant overrides one small part of the engine — the dependency graph it is given, or
one method of the coordinator (``_Run``) through the hook ``ParallelExecutor._new_run`` —
and reuses everything else. They are meant for the thread backend, where transactions
really run concurrently. Never use them for anything but testing the harness.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import networkx as nx

from aethel.analysis import WAW, dependency_graph
from aethel.backends import InlinePool, ProcessPool, ThreadPool
from aethel.context import TxResult
from aethel.executor import ExecutionResult, ParallelExecutor, _Run
from aethel.model import Batch, Transaction
from aethel.operations import Call
from aethel.trace import Event, TraceRecorder

Pool = InlinePool | ThreadPool | ProcessPool


class IgnoresDependencies(ParallelExecutor):
    """Mutant 1: ignores the dependency graph — every transaction in one parallel group."""

    bug = "ignores dependencies: every transaction is ready at once"

    def execute(self, batch: Batch, graph: nx.DiGraph | None = None) -> ExecutionResult:
        """Run ``batch`` with a dependency graph that has no edges."""
        full = graph if graph is not None else dependency_graph(batch)
        flat = nx.DiGraph()
        flat.add_nodes_from(full.nodes(data=True))
        return super().execute(batch, flat)


class CompletionOrderInstalls(ParallelExecutor):
    """Mutant 5: treats write-write conflicts as independent, so blind writes to one account
    run in parallel and install in completion order instead of dependency order."""

    bug = "write-write conflicts ignored: installs land in completion order"

    def execute(self, batch: Batch, graph: nx.DiGraph | None = None) -> ExecutionResult:
        """Run ``batch`` without its write-write-only dependency edges."""
        pruned = (graph if graph is not None else dependency_graph(batch)).copy()
        pruned.remove_edges_from([(u, v) for u, v, conflicts in pruned.edges(data="conflicts")
                                  if all(kind == WAW for kind, _ in conflicts)])
        return super().execute(batch, pruned)


class _MutantExecutor(ParallelExecutor):
    """An executor whose coordinator is :attr:`run_class`."""

    run_class: type[_Run] = _Run

    def _new_run(self, batch: Batch, graph: nx.DiGraph, timeout: float | None) -> _Run:
        return self.run_class(self, batch, graph, timeout)


class _WholeStateMergeRun(_Run):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.copies: dict[int, dict[str, tuple[int, str]]] = {}

    def _snapshot(self, r: int, tx: Transaction) -> dict[str, tuple[int, str]]:
        copy = dict(self.state)
        self.copies[r] = copy
        return dict(copy)

    def _finish(self, result: TxResult) -> None:
        copy = self.copies.pop(result.index)
        if result.ok and (self.failed is None or result.index < self.failed):
            self.state.update(copy)
        super()._finish(result)


class WholeStateMerge(_MutantExecutor):
    """Mutant 2: each transaction works on a copy of every account and the merge writes the
    whole copy back, silently reverting what others installed meanwhile (lost update)."""

    bug = "whole-state copy-on-write merge: every account is written back"
    run_class = _WholeStateMergeRun


class _StaleSnapshotRun(_Run):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deferred: TxResult | None = None

    def _finish(self, result: TxResult) -> None:
        previous, self.deferred = self.deferred, result
        if previous is not None:
            super()._finish(previous)

    def _drain(self, pool: Pool, release: bool) -> None:
        super()._drain(pool, release)
        if self.deferred is not None:
            last, self.deferred = self.deferred, None
            super()._finish(last)


class StaleSnapshot(_MutantExecutor):
    """Mutant 3: releases a transaction's successors before its writes are installed (the
    install waits for the next result), so they start from a stale snapshot."""

    bug = "stale snapshot: successors start before the writes they need are installed"
    run_class = _StaleSnapshotRun


class _NonAtomicRollbackRun(_Run):
    def _rollback(self) -> None:
        if self.undo:
            self.undo.pop(next(reversed(self.undo)))
        super()._rollback()


class NonAtomicRollback(_MutantExecutor):
    """Mutant 4: the rollback of a failed atomic batch forgets the account installed last."""

    bug = "non-atomic rollback: one account's writes survive a failed atomic batch"
    run_class = _NonAtomicRollbackRun


class _DirtyReadRun(_Run):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.uncommitted: dict[str, tuple[int, str]] = {}

    def _snapshot(self, r: int, tx: Transaction) -> dict[str, tuple[int, str]]:
        snapshot = super()._snapshot(r, tx)
        snapshot.update((a, v) for a, v in self.uncommitted.items() if a in snapshot)
        return snapshot

    def _finish(self, result: TxResult) -> None:
        tx = self.txs[result.index]
        if result.ok:
            for account in result.writes:
                self.uncommitted.pop(account, None)
        else:
            self.uncommitted.update((a, (v, tx.id)) for a, v in result.writes.items())
        super()._finish(result)


class DirtyRead(_MutantExecutor):
    """Mutant 6: publishes the writes a transaction made before it failed; later snapshots
    see them (until the account is next installed) although the transaction aborted."""

    bug = "dirty read: writes of a transaction that aborts are visible to later ones"
    run_class = _DirtyReadRun


class LossyRecorder(TraceRecorder):
    """A trace recorder without synchronisation: ``record`` copies the list, appends and
    stores the copy, so an event recorded by another thread in between is lost."""

    def record(self, event: Event) -> None:
        """Append ``event`` without the lock (read, copy, store)."""
        events = list(self._events)
        events.append(event)
        self._events = events


class _UnsynchronisedTraceRun(_Run):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recorder = LossyRecorder()


class UnsynchronisedTrace(_MutantExecutor):
    """Mutant 7: records the trace without a lock; events are lost under contention."""

    bug = "unsynchronised trace recording: events lost under contention"
    run_class = _UnsynchronisedTraceRun


def unrestricted(tx: Transaction, accounts: tuple[str, ...]) -> Transaction:
    """``tx`` with every account declared, for itself and for its user-defined operations."""
    ops = tuple(replace(op, call_reads=accounts, call_writes=accounts) if isinstance(op, Call)
                else op for op in tx.ops)
    everything = frozenset(accounts)
    return Transaction(tx.id, ops, everything, everything, tx.after)


class _UnenforcedRun(_Run):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        accounts = tuple(sorted(self.batch.accounts))
        self.txs = [unrestricted(tx, accounts) for tx in self.txs]


class UndeclaredAccess(_MutantExecutor):
    """Mutant 8: does not enforce declared sets — the scheduler trusts the declarations,
    but workers let a transaction read and write any account."""

    bug = "undeclared accesses not enforced"
    run_class = _UnenforcedRun


class _TornInstallRun(_Run):
    def _finish(self, result: TxResult) -> None:
        if result.ok and len(result.writes) > 1:
            first = next(iter(result.writes))
            result = result._replace(writes={first: result.writes[first]})
        super()._finish(result)


class TornInstall(_MutantExecutor):
    """Mutant 9: installs only the first write of a transaction (a torn multi-account
    install: a transfer debits without crediting)."""

    bug = "torn install: only the first account of a transaction is installed"
    run_class = _TornInstallRun


class _TimeoutKeepsWritesRun(_Run):
    def _stopped(self, error: type, message: str) -> Exception:
        self.undo = {}
        return super()._stopped(error, message)


class TimeoutKeepsWrites(_MutantExecutor):
    """Mutant 10: when the batch is stopped (a timeout), forgets its undo log, so the
    balances it reports keep the writes already installed."""

    bug = "no rollback on a timeout: installed writes survive"
    run_class = _TimeoutKeepsWritesRun
