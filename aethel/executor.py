"""The ParallelExecutor: runs a batch on a pool, respecting the dependency DAG.

One coordinator loop (:class:`Coordinator`) serves every backend. It keeps the shared state
(balance and version of each account), hands ready transactions to the pool with a snapshot
of only their declared accounts, and installs returned write deltas, so installs happen in
dependency order by construction. ``dataflow`` releases a transaction as soon as its
predecessors are done; ``levels`` runs one independent set at a time behind a barrier.

Every install is logged in an undo log, so that an atomic failure, a timeout or a lost
worker restores the exact initial state.

Extension point: :attr:`ParallelExecutor.coordinator_class` names the coordinator of each
execution; a subclass of :class:`Coordinator` overrides its documented hooks.
"""

from __future__ import annotations

import heapq
import os
import threading
import time
from dataclasses import dataclass, field

import networkx as nx

from aethel.analysis import dependency_graph, independent_sets, serial_order
from aethel.backends import InlinePool, Pool, WorkerLost, make_pool
from aethel.context import Snapshot, TxResult
from aethel.cores import usable_cores
from aethel.errors import (
    BatchFormatError,
    ExecutionInterrupted,
    ExecutionTimeout,
    InputError,
    WorkerCrashedError,
)
from aethel.model import ATOMIC, INDEPENDENT, Batch, Transaction
from aethel.outcome import ABORTED, COMMITTED, ROLLED_BACK, SKIPPED, Outcome
from aethel.trace import ABORT, COMMIT, INIT, WRITE, Event, TraceRecorder

BACKENDS = ("serial", "thread", "process")
SCHEDULES = ("dataflow", "levels")

AUTO_TIMEOUT_CAP = 300.0
"""Seconds the serial calibration of ``timeout="auto"`` may take before the batch fails."""
INTERRUPT_POLL_S = 0.1
"""How often a run waiting for results looks whether it was interrupted."""


@dataclass
class ExecutionResult:
    """Everything one execution produced."""

    final_states: dict[str, int]
    final_versions: dict[str, str]
    outcomes: dict[str, Outcome]
    execution_trace: list[Event]
    parallel_groups: list[list[str]]
    execution_time: float
    worker_count: int
    backend: str
    schedule: str
    mode: str
    committed: bool
    error: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def failed_transaction(self) -> str | None:
        """The transaction that aborted an atomic batch, if any."""
        if self.mode != ATOMIC:
            return None
        return next((t for t, o in self.outcomes.items() if o.status == ABORTED), None)

    def counts(self) -> dict[str, int]:
        """Number of transactions per outcome status."""
        counts: dict[str, int] = {}
        for outcome in self.outcomes.values():
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        return counts


def check_workers(backend: str, workers: int | None, where: str = "workers") -> int:
    """The worker count of ``backend``: ``workers``, or if None the usable cores (1 for
    serial). Raises :class:`InputError` at ``where`` unless it is a positive integer (exactly
    1 for serial)."""
    if workers is None:
        return 1 if backend == "serial" else usable_cores()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"must be a positive integer, got {workers!r}", where)
    if backend == "serial" and workers != 1:
        raise InputError("the serial backend has exactly one worker", where)
    return workers


def check_timeout(timeout: float | str | None, where: str = "timeout") -> float | str | None:
    """``timeout`` if it is None, ``"auto"`` or a positive number of seconds; otherwise
    raises :class:`InputError` at ``where``."""
    if timeout is None or timeout == "auto":
        return timeout
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise InputError(f"must be a positive number of seconds or 'auto', got {timeout!r}",
                         where)
    if not timeout > 0:
        raise InputError(f"must be positive, got {str(timeout).removesuffix('.0')}", where)
    return timeout


def check_schedule(schedule: str, where: str = "schedule") -> str:
    """``schedule`` if it is one of :data:`SCHEDULES`; otherwise raises :class:`InputError`
    at ``where``."""
    if schedule not in SCHEDULES:
        raise InputError(f"must be one of {', '.join(SCHEDULES)}, got {schedule!r}", where)
    return schedule


class Coordinator:
    """One execution of one batch on ``executor``'s pool: the coordinator loop.

    A subclass (named by :attr:`ParallelExecutor.coordinator_class`) may override the hooks
    :meth:`snapshot`, :meth:`install`, :meth:`drain`, :meth:`rollback`, :meth:`stopped` and
    :attr:`recorder_class`, and read or replace these attributes (in ``__init__``, after
    calling the base): ``batch``; ``order``, the transaction ids in serial order (index
    ``r`` is the transaction's *rank*); ``transactions``, what the workers run for each rank;
    ``state``, account → (balance, version); ``undo``, account → (balance, version) before
    its first install; ``failed``, the rank of the transaction that failed an atomic batch;
    ``recorder``, the trace recorder.
    """

    recorder_class: type[TraceRecorder] = TraceRecorder
    """The trace recorder of an execution (a hook: the harness's mutants record their own
    way)."""

    def __init__(self, executor: ParallelExecutor, batch: Batch, graph: nx.DiGraph,
                 schedule: str, timeout: float | None) -> None:
        self.executor = executor
        self.batch = batch
        self.graph = graph
        self.schedule = schedule
        self.timeout = timeout
        self.order = serial_order(graph)
        self.rank = rank = {tx_id: r for r, tx_id in enumerate(self.order)}
        by_id = {tx.id: tx for tx in batch.transactions}
        self.transactions = [by_id[tx_id] for tx_id in self.order]
        self.succ = [[rank[s] for s in graph.succ[t]] for t in self.order]
        self.indeg = [len(graph.pred[t]) for t in self.order]
        self.state: dict[str, tuple[int, str]] = {a: (v, INIT) for a, v in batch.accounts.items()}
        self.undo: dict[str, tuple[int, str]] = {}
        self.recorder = self.recorder_class()
        self.cancel = threading.Event()
        self.interrupted = False
        self.results: list[TxResult | None] = [None] * len(self.order)
        self.failed: int | None = None
        self.ready: list[int] = []
        self.pid = os.getpid()

    def interrupt(self) -> None:
        """Cancel the transactions not yet started and stop at the next poll."""
        self.interrupted = True
        self.cancel.set()

    def execute(self) -> ExecutionResult:
        """Run the batch; see :meth:`ParallelExecutor.execute`."""
        pool = self.executor.pool
        try:
            pool.ready()  # replaced workers start before, not within, this run's time
        except WorkerLost as exc:
            pool.reset()
            raise self.stopped(WorkerCrashedError, f"{exc}; workers replaced") from None
        started = time.perf_counter()
        self.deadline = None if self.timeout is None else time.monotonic() + self.timeout
        timer = None
        if self.deadline is not None and isinstance(pool, InlinePool):
            timer = threading.Timer(self.timeout, self.cancel.set)
            timer.daemon = True
            timer.start()
        groups = independent_sets(self.graph)
        try:
            if self.schedule == "levels":
                for group in groups:
                    self.ready = sorted(self.rank[t] for t in group)
                    self.drain(pool, release=False)
            else:
                self.ready = [r for r, d in enumerate(self.indeg) if d == 0]
                self.drain(pool, release=True)
        except BaseException as exc:
            self.cancel.set()
            pool.reset()
            self.rollback()
            if isinstance(exc, WorkerLost):
                raise self.stopped(WorkerCrashedError, f"{exc}; workers replaced") from None
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if self.failed is not None:
            self.rollback()
        return self._result(groups, time.perf_counter() - started)

    def drain(self, pool: Pool, release: bool) -> None:
        """Run the ready transactions until none is in flight (``release``: a transaction's
        successors become ready as it finishes)."""
        inflight = 0
        while True:
            while self.ready and pool.has_capacity():
                size = pool.chunk_size(len(self.ready))
                chunk = []
                while self.ready and len(chunk) < size:
                    r = heapq.heappop(self.ready)
                    if self.failed is None or r < self.failed:
                        tx = self.transactions[r]
                        chunk.append((r, tx, self.snapshot(r, tx)))
                if chunk:
                    pool.submit(chunk, self.recorder.record, self.cancel)
                    inflight += len(chunk)
            if not inflight:
                return
            remaining = None if self.deadline is None else self.deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise self.stopped(ExecutionTimeout, f"batch exceeded its {self.timeout:g} s "
                                    "timeout")
            if self.interrupted:
                raise self.stopped(ExecutionInterrupted, "batch interrupted")
            results, events = pool.collect(INTERRUPT_POLL_S if remaining is None
                                           else min(remaining, INTERRUPT_POLL_S))
            self.recorder.extend(events)
            for result in results:
                inflight -= 1
                self.install(result)
                if release:
                    for s in self.succ[result.index]:
                        self.indeg[s] -= 1
                        if not self.indeg[s]:
                            heapq.heappush(self.ready, s)
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise self.stopped(ExecutionTimeout, f"batch exceeded its {self.timeout:g} s "
                                    "timeout")

    def snapshot(self, r: int, tx: Transaction) -> Snapshot:
        """What transaction ``r`` sees: (balance, version) of only its declared accounts."""
        return {a: self.state[a] for a in tx.accounts}

    def install(self, result: TxResult) -> None:
        """Take a transaction's result: install its writes (logged in the undo log) and
        record its WRITE and COMMIT events, or record its ABORT (and, in an atomic batch,
        remember the earliest failure)."""
        r = result.index
        tx = self.transactions[r]
        self.results[r] = result
        now = time.monotonic_ns()
        if self.failed is not None and r > self.failed:
            self.recorder.record(Event(ABORT, tx.id, now, result.worker, self.pid,
                                       reason=f"skipped: atomic batch aborted by "
                                              f"{self.order[self.failed]}"))
            return
        if not result.ok:
            self.recorder.record(Event(ABORT, tx.id, now, result.worker, self.pid,
                                       reason=result.reason))
            if self.batch.mode == ATOMIC and (self.failed is None or r < self.failed):
                self.failed = r
            return
        for account, value in result.writes.items():
            previous = self.state[account]
            self.undo.setdefault(account, previous)
            self.state[account] = (value, tx.id)
            self.recorder.record(Event(WRITE, tx.id, time.monotonic_ns(), result.worker,
                                       self.pid, account, value, replaced=previous[1]))
        self.recorder.record(Event(COMMIT, tx.id, time.monotonic_ns(), result.worker, self.pid))

    def rollback(self) -> None:
        """Restore every account the undo log holds."""
        self.state.update(self.undo)
        self.undo = {}

    def stopped(self, error: type, message: str) -> Exception:
        """The ``error`` that stops the batch, once every started transaction has its ABORT
        and every install is rolled back."""
        completed = sum(r is not None for r in self.results)
        self._abort_started()
        self.rollback()
        return error(message, completed, len(self.results) - completed, self.recorder.events(),
                     {a: v for a, (v, _) in self.state.items()})

    def _abort_started(self) -> None:
        """Give every started but unfinished transaction its ABORT event."""
        events = self.recorder.events()
        ended = {e.txn for e in events if e.kind in (COMMIT, ABORT)}
        now = time.monotonic_ns()
        for e in events:
            if e.kind == "START" and e.txn not in ended:
                ended.add(e.txn)
                self.recorder.record(Event(ABORT, e.txn, now, e.worker, self.pid,
                                           reason="cancelled: batch stopped"))

    def _outcome(self, r: int) -> Outcome:
        if self.failed is not None:
            if r < self.failed:
                return Outcome(ROLLED_BACK)
            if r > self.failed:
                return Outcome(SKIPPED)
        result = self.results[r]
        assert result is not None
        return Outcome(COMMITTED) if result.ok else Outcome(ABORTED, result.reason)

    def _critical_path(self, durations: list[float]) -> float:
        """The heaviest path's total duration (as :func:`~aethel.analysis.critical_path`
        computes it), over the rank lists: ranks are a topological order."""
        start = [0.0] * len(durations)
        longest = 0.0
        for r, duration in enumerate(durations):
            end = duration + start[r]
            longest = max(longest, end)
            for s in self.succ[r]:
                if start[s] < end:
                    start[s] = end
        return longest

    def _result(self, groups: list[list[str]], elapsed: float) -> ExecutionResult:
        durations = [res.duration_ns / 1e3 if res is not None else 0.0 for res in self.results]
        work = sum(durations)
        longest = self._critical_path(durations)
        workers = self.executor.workers
        metrics = {
            "transactions": float(len(self.order)),
            "work_s": work / 1e6,
            "critical_path_s": longest / 1e6,
            "average_parallelism": (work / 1e6) / elapsed if elapsed > 0 else 0.0,
            "critical_path_bound": min(float(workers), work / longest) if longest else 1.0,
            "throughput_tx_s": len(self.order) / elapsed if elapsed > 0 else 0.0,
        }
        error = None
        if self.failed is not None:
            failing = self.results[self.failed]
            assert failing is not None
            error = (f"atomic batch aborted: transaction {self.order[self.failed]} failed: "
                     f"{failing.reason}; all effects rolled back")
        outcomes = {self.order[r]: self._outcome(r) for r in range(len(self.order))}
        return ExecutionResult(
            final_states={a: v for a, (v, _) in self.state.items()},
            final_versions={a: ver for a, (_, ver) in self.state.items()},
            outcomes={tx.id: outcomes[tx.id] for tx in self.batch.transactions},
            execution_trace=self.recorder.events(),
            parallel_groups=groups,
            execution_time=elapsed,
            worker_count=workers,
            backend=self.executor.backend,
            schedule=self.schedule,
            mode=self.batch.mode,
            committed=self.failed is None,
            error=error,
            metrics=metrics,
        )


class ParallelExecutor:
    """Runs batches on the ``serial``, ``thread`` or ``process`` backend.

    ``workers`` defaults to the usable cores; ``timeout`` is seconds, ``None`` or ``"auto"``
    (10× the measured serial time, at least 1 s; a serial run longer than
    ``auto_timeout_cap`` seconds fails the batch with ExecutionTimeout). Use as a context
    manager, or call :meth:`close`, to stop the workers.
    """

    auto_timeout_cap: float = AUTO_TIMEOUT_CAP
    """Seconds the serial calibration of ``timeout="auto"`` may take (tests set it lower)."""
    coordinator_class: type[Coordinator] = Coordinator
    """The :class:`Coordinator` (sub)class that runs each execution (a hook: the harness's
    mutant executors name their own)."""

    def __init__(self, backend: str = "thread", workers: int | None = None,
                 schedule: str = "dataflow", timeout: float | str | None = None) -> None:
        if backend not in BACKENDS:
            raise InputError(f"must be one of {', '.join(BACKENDS)}, got {backend!r}", "backend")
        self.schedule = check_schedule(schedule)
        self.backend = backend
        self.workers = check_workers(backend, workers)
        self.timeout = check_timeout(timeout)
        self._pool: Pool | None = None
        self._running: Coordinator | None = None

    def __enter__(self) -> ParallelExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def interrupt(self) -> None:
        """Stop the batch that is running, if any (safe from a signal handler or another
        thread): transactions not yet started are cancelled, and within
        :data:`INTERRUPT_POLL_S` seconds :meth:`execute` rolls every effect back and raises
        :class:`~aethel.errors.ExecutionInterrupted`."""
        coordinator = self._running
        if coordinator is not None:
            coordinator.interrupt()

    def close(self) -> None:
        """Stop the workers; the executor starts new ones if used again."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    @property
    def pool(self) -> Pool:
        """The worker pool, started (by :meth:`start_pool`) on first use."""
        if self._pool is None:
            self._pool = self.start_pool()
        return self._pool

    def start_pool(self) -> Pool:
        """A new worker pool of :attr:`backend` with :attr:`workers` workers (a hook: the
        harness's mutant executors start their own)."""
        return make_pool(self.backend, self.workers)

    def execute(self, batch: Batch, graph: nx.DiGraph | None = None, *,
                schedule: str | None = None) -> ExecutionResult:
        """Run ``batch`` (on ``schedule``, by default :attr:`schedule`); the result equals
        serial execution in serial order.

        Transaction failures are outcomes, not exceptions. Raises
        :class:`~aethel.errors.ExecutionTimeout` or :class:`~aethel.errors.WorkerCrashedError`
        after rolling back; the executor stays usable.
        """
        schedule = self.schedule if schedule is None else check_schedule(schedule)
        graph = graph if graph is not None else dependency_graph(batch)
        coordinator = self.coordinator_class(self, batch, graph, schedule,
                                             self._timeout_for(batch, graph))
        self._running = coordinator
        try:
            return coordinator.execute()
        finally:
            self._running = None

    def execute_parallel(self, transactions: list[Transaction], initial_state: dict[str, int],
                         mode: str = INDEPENDENT) -> ExecutionResult:
        """Run ``transactions`` (in batch order) from ``initial_state``."""
        return self.execute(Batch(initial_state, tuple(transactions), mode))

    def execute_independent_set(self, transactions: list[Transaction],
                                state: dict[str, int]) -> dict[str, Outcome]:
        """Run mutually independent transactions against ``state`` and update it in place."""
        batch = Batch(state, tuple(transactions), INDEPENDENT)
        graph = dependency_graph(batch)
        if graph.number_of_edges():
            u, v, conflicts = next(iter(graph.edges(data="conflicts")))
            raise BatchFormatError(f"{u} and {v} are not independent ({conflicts})",
                                   "transactions")
        result = self.execute(batch, graph)
        state.update(result.final_states)
        return result.outcomes

    def _timeout_for(self, batch: Batch, graph: nx.DiGraph) -> float | None:
        if self.timeout != "auto":
            return self.timeout
        # One worker thread runs the batch serially, so that a hung user operation, which no
        # cancellation reaches, is abandoned at the cap instead of hanging the caller.
        with ParallelExecutor("thread", 1) as calibration:
            try:
                serial = Coordinator(calibration, batch, graph, "dataflow",
                                     self.auto_timeout_cap).execute()
            except ExecutionTimeout as exc:
                raise ExecutionTimeout(
                    f"the serial calibration of the 'auto' timeout exceeded its "
                    f"{self.auto_timeout_cap:g} s cap", exc.completed, exc.pending, exc.trace,
                    exc.final_states) from None
        return auto_timeout(serial.execution_time)


def auto_timeout(serial_seconds: float) -> float:
    """The timeout ``"auto"`` picks for a batch whose serial run took ``serial_seconds``."""
    return max(1.0, 10 * serial_seconds)
