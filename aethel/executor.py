"""The ParallelExecutor: runs a batch on a pool, respecting the dependency DAG.

One coordinator loop (:class:`Coordinator`) serves every backend. It keeps the shared state
(balance and version of each account), hands ready transactions to the pool with a snapshot
of only their declared accounts, and installs returned write deltas, so installs happen in
dependency order by construction. ``dataflow`` releases a transaction as soon as its
predecessors are done; ``levels`` runs one independent set at a time behind a barrier.

Every install is logged in an undo log, so that an atomic failure, a timeout or a lost
worker restores the exact initial state.

The coordinator's own cost is kept per chunk: installs are logged as rows and handed to the
recorder in blocks (the trace is kept as columns, :class:`~aethel.trace.TraceColumns`;
``Event`` objects are built when :attr:`ExecutionResult.execution_trace` is first read); a
batch that parallelism cannot pay for runs on the coordinator's thread
(:meth:`Coordinator.runs_inline`, metric ``inline``); on processes a chain of dependent
transactions goes to one worker whole, which installs each before the next starts (metric
``chained_transactions``; ``round_trips`` counts what the coordinator sent). A narrow DAG,
where round trips through the coordinator would dominate, may instead be *planned* on
processes (:meth:`Coordinator.path`, metric ``planned``): each worker gets its part of a
static plan in one message and waits for a predecessor on another worker by a message from
that worker.

Extension point: :attr:`ParallelExecutor.coordinator_class` names the coordinator of each
execution; a subclass of :class:`Coordinator` overrides its documented hooks.
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from aethel.analysis import (
    DependencyDag,
    Graph,
    dependency_dag,
    dependency_graph,
    plan_workers,
)
from aethel.backends import (
    Chunk,
    InlinePool,
    Part,
    Pool,
    ProcessPool,
    WorkerLost,
    make_pool,
)
from aethel.context import Snapshot, TxResult, run_transaction
from aethel.cores import usable_cores
from aethel.errors import (
    BatchFormatError,
    ExecutionInterrupted,
    ExecutionTimeout,
    InputError,
    WorkerCrashedError,
)
from aethel.memory import ResultLog, paused_gc
from aethel.model import ATOMIC, INDEPENDENT, Batch, Transaction
from aethel.outcome import ABORTED, COMMITTED, ROLLED_BACK, SKIPPED, Outcome
from aethel.trace import (
    ABORT,
    ABORT_CODE,
    COMMIT,
    COMMIT_CODE,
    START,
    WRITE_CODE,
    Event,
    Row,
    TraceColumns,
    TraceRecorder,
)

BACKENDS = ("serial", "thread", "process")
SCHEDULES = ("dataflow", "levels")

GIL_FREE_KINDS = frozenset({"hash", "sleep", "call"})
"""Operations whose cost threads can share: they release the GIL (``call`` runs user code,
which may)."""
_COMMITTED, _ROLLED_BACK, _SKIPPED = Outcome(COMMITTED), Outcome(ROLLED_BACK), Outcome(SKIPPED)
"""Shared outcomes (frozen) of the statuses without a reason."""

AUTO_TIMEOUT_CAP = 300.0
"""Seconds the serial calibration of ``timeout="auto"`` may take before the batch fails."""
_RUNS = itertools.count()
"""Numbers runs on pools whose workers install: a worker forgets what it installed in
another run."""
INTERRUPT_POLL_S = 0.1
"""How often a run waiting for results looks whether it was interrupted."""
FLUSH_ROWS = 512
FLUSH_S = 0.02
"""The coordinator hands its events to the recorder after this many, or this many seconds
(so that the trace of a running batch is readable while it runs)."""


@dataclass
class ExecutionResult:
    """Everything one execution produced."""

    final_states: dict[str, int]
    final_versions: dict[str, str]
    outcomes: dict[str, Outcome]
    recorder: TraceRecorder = field(repr=False, compare=False)
    """The run's trace as recorded (columns); :attr:`execution_trace` builds its events."""
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
    def execution_trace(self) -> list[Event]:
        """The trace's events in time order (built from the recorder on first use)."""
        events = self.__dict__.get("_execution_trace")
        if events is None:
            events = self.__dict__["_execution_trace"] = self.recorder.events()
        return events

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
    INLINE_MIN_TRANSACTIONS = 100
    """Smaller batches always run on the pool (see :meth:`runs_inline`)."""
    PARALLEL_COST_US: dict[str, tuple[float, float]] = {"thread": (5.0, 30.0),
                                                        "process": (8.0, 250.0)}
    """Per backend, µs the coordinator spends per transaction and the round trip that
    separates two levels (measured on 2 cores: docs/examples/measure_coordinator.py)."""
    SERIAL_COST_US = 5.0
    """µs of bookkeeping per transaction run inline."""
    PLAN_COST_US = (4.0, 12.0, 150.0)
    """For a planned run on processes (see :meth:`path`): µs the coordinator spends per
    transaction, µs a worker spends per transaction beyond its work, and µs from a
    transaction's end to the start of a successor on another worker. Measured on 2 cores:
    5, 12–14, and 20–60 for the message (a worker polls for it before blocking); the
    message cost is set high, to prefer plans with fewer messages, and contention-high ran
    as fast with plans made for 30 µs."""
    WORKER_INSTALL_US = 8.0
    """µs a process worker spends per transaction to install it and log its rows itself
    (measured on 2 cores: 8–11, against the coordinator installing it)."""
    AHEAD_US = 1000.0
    """How much estimated work (µs) a worker may hold before transactions stop going to it
    ahead of their predecessors (see :meth:`_drain_installing`; chains go whole)."""

    def __init__(self, executor: ParallelExecutor, batch: Batch, graph: Graph,
                 schedule: str, timeout: float | None) -> None:
        self.executor = executor
        self.batch = batch
        dag = graph if isinstance(graph, DependencyDag) else \
            DependencyDag.from_networkx(batch, graph)
        self.graph = dag
        self.schedule = schedule
        self.timeout = timeout
        ranked = dag.ranked  # built once per DAG: its runs share it, read only
        self.order = ranked.ids
        self.rank = ranked.rank
        self.transactions = ranked.transactions
        self.succ = ranked.succ
        self.npred = ranked.npred
        self.indeg = list(ranked.npred)
        self.state = ranked.initial_state(batch.accounts)
        self.undo: dict[str, tuple[int, str]] = {}
        self.recorder = self.recorder_class()
        self.recorder.names = list(self.order)  # the result's own: later runs share the rest
        self.recorder.index = dict(self.rank)
        self.pending: list[Row] = []
        """Events recorded by :meth:`install` not yet handed to the recorder (in bulk, by
        :meth:`flush`)."""
        self.round_trips = 0
        self.flush_by = 0.0
        self.handed = bytearray(len(self.order))
        """1 for each rank handed to a worker in a chain (see :meth:`chain`)."""
        self.chained = 0
        """How many transactions went in chains of two or more."""
        self.ahead = 0
        """How many were handed to a worker before all their predecessors were installed."""
        self.inline = False
        """Whether this run is the coordinator's own (see :meth:`runs_inline`)."""
        self.where: list[int] | None = None
        """The worker of each rank in a planned run (see :meth:`path`), else None."""
        self.cancel = threading.Event()
        self.interrupted = False
        self.results = ResultLog(len(self.order))
        """Each rank's result once it arrived (kept compactly, without its writes)."""
        self.failed: int | None = None
        self.ready: list[int] = []
        self.pid = os.getpid()

    def interrupt(self) -> None:
        """Cancel the transactions not yet started and stop at the next poll."""
        self.interrupted = True
        self.cancel.set()

    def execute(self) -> ExecutionResult:
        """Run the batch; see :meth:`ParallelExecutor.execute`."""
        levels = self.graph.ranked.levels
        path = self.path()
        self.inline = path == "inline"
        pool = self.executor.inline_pool if self.inline else self.executor.pool
        try:
            if path == "planned":
                pool.link()  # type: ignore[attr-defined]
            pool.ready()  # replaced workers start before, not within, this run's time
        except WorkerLost as exc:
            pool.reset()
            raise self.stopped(WorkerCrashedError, f"{exc}; workers replaced") from None
        prepare = getattr(pool, "prepare", None)
        if prepare is not None:
            prepare(self.transactions, self.batch.accounts)
        started = time.perf_counter()
        self.deadline = None if self.timeout is None else time.monotonic() + self.timeout
        timer = None
        if self.deadline is not None and isinstance(pool, InlinePool):
            timer = threading.Timer(self.timeout, self.cancel.set)
            timer.daemon = True
            timer.start()
        groups = [list(ids) for ids in self.graph.ranked.groups]
        try:
            if self.schedule == "levels":
                for level in levels:
                    self.ready = list(level)
                    self.drain(pool, release=False)
            else:
                self.ready = [r for r, d in enumerate(self.indeg) if d == 0]
                self.drain(pool, release=True)
        except BaseException as exc:
            self.flush()
            self.cancel.set()
            pool.reset()
            self.rollback()
            if isinstance(exc, WorkerLost):
                raise self.stopped(WorkerCrashedError, f"{exc}; workers replaced") from None
            raise
        finally:
            if timer is not None:
                timer.cancel()
        self.flush()
        if self.failed is not None:
            self.rollback()
        return self._result(groups, time.perf_counter() - started)

    def path(self) -> str:
        """How this run goes: ``"inline"`` when :meth:`runs_inline`; ``"planned"`` when the
        batch may go whole to a process pool's workers, each with its part of a static plan
        (:func:`~aethel.analysis.plan_workers`, run by :meth:`_drain_planned`), and that plan
        is estimated faster than both the pool's dataflow and running inline; otherwise
        ``"pool"``. A plan is considered only when round trips through the coordinator make
        up a tenth or more of the dataflow estimate (a narrow DAG): in a plan, a transaction
        waits for a predecessor on another worker by a message between the workers, not a
        round trip, but the plan cannot adapt to costs that differ from the estimates.
        Costs: :attr:`PLAN_COST_US`."""
        estimates = self._estimates()
        if estimates is None:
            return "pool"
        serial, parallel, bound = estimates
        if (self.executor.backend == "process" and self.schedule == "dataflow"
                and self.executor.workers > 1 and self.chains_allowed()
                and parallel - bound >= parallel / 10):
            coordinator, overhead, message = self.PLAN_COST_US
            n, workers = len(self.order), self.executor.workers
            best = min(serial, parallel)
            work = serial - n * self.SERIAL_COST_US
            if (work + n * overhead) / workers + n * coordinator < best:  # a plan might pay
                plans = self.graph.ranked.plans
                key = (workers, message, overhead)
                if key not in plans:
                    plans[key] = plan_workers(self.graph, workers, message, overhead)
                where, makespan = plans[key]
                if (makespan + n * coordinator < best
                        and getattr(self.executor.pool, "takes_plans", False)):
                    self.where = where
                    return "planned"
        return "inline" if parallel >= serial else "pool"

    def runs_inline(self) -> bool:
        """Whether parallelism cannot pay for this batch, so that the coordinator runs it
        itself (reported as ``inline`` in the metrics; :meth:`path` may still find a plan
        that pays): never for fewer than :attr:`INLINE_MIN_TRANSACTIONS` transactions or on
        the serial backend; otherwise when the estimated parallel time is no less than the
        estimated serial time (the work plus :attr:`SERIAL_COST_US` per transaction). The
        parallel time is the larger of the work shared by the workers and the critical
        path, plus the coordinator's cost per transaction and a round trip per dependency
        step that is not a link of a chain handed to one worker (:attr:`PARALLEL_COST_US`);
        on threads, operations that hold the GIL (all but :data:`GIL_FREE_KINDS`) are not
        shared. Costs are the operations' estimates
        (:meth:`~aethel.model.Transaction.cost_us`)."""
        estimates = self._estimates()
        return estimates is not None and estimates[1] >= estimates[0]

    def _estimates(self) -> tuple[float, float, float] | None:
        """The estimated serial and parallel times of :meth:`runs_inline` (µs), and the
        parallel time without its round trips; None when the batch never runs inline."""
        n = len(self.transactions)
        backend = self.executor.backend
        costs = self.PARALLEL_COST_US.get(backend)
        if costs is None or n < self.INLINE_MIN_TRANSACTIONS:
            return None
        per_transaction, per_step = costs
        ranked = self.graph.ranked
        work = shared = ranked.estimated_work
        if backend == "thread":
            shared = sum(op.cost_us() for tx in self.transactions for op in tx.ops
                         if op.kind in GIL_FREE_KINDS)
        longest = ranked.estimated_path
        steps = ranked.steps(self.schedule == "dataflow" and self.chains_allowed())
        bound = max(work - shared + shared / self.executor.workers, longest) \
            + n * per_transaction
        return work + n * self.SERIAL_COST_US, bound + steps * per_step, bound

    def _workers_install(self) -> bool:
        """Whether the workers of a pool that can install what they run should
        (:meth:`_drain_installing`): only when the round trips through the coordinator it
        may save, at most one per dependency step (without chains), could
        cost more than installing on the workers does (:attr:`WORKER_INSTALL_US` per
        transaction, shared by the workers). On a wide DAG they cannot, and the
        coordinator installs."""
        costs = self.PARALLEL_COST_US.get(self.executor.backend)
        if costs is None:
            return True
        share = len(self.order) * self.WORKER_INSTALL_US / self.executor.workers
        return self.graph.ranked.steps(False) * costs[1] > share

    def drain(self, pool: Pool, release: bool) -> None:
        """Run the ready transactions until none is in flight (``release``: a transaction's
        successors become ready as it finishes). When :meth:`chains_allowed`, a chain goes
        to one worker whole on a pool that takes chains, and a pool whose workers install
        what they run is driven by :meth:`_drain_installing`."""
        if release and type(pool) is InlinePool:
            self._run_in_order()
            return
        if self.where is not None:
            self._drain_planned(pool)  # type: ignore[arg-type]
            return
        allowed = release and self.chains_allowed()
        if allowed and getattr(pool, "installs_on_worker", False) and self._workers_install():
            self._drain_installing(pool)
            return
        chains_on = allowed and getattr(pool, "takes_chains", False)
        roots = (getattr(pool, "takes_root_snapshots", False)
                 and type(self).snapshot is Coordinator.snapshot)
        inflight = 0
        succ, npred, ready, transactions = self.succ, self.npred, self.ready, self.transactions
        record, cancel, handed, indeg = self.recorder.record, self.cancel, self.handed, self.indeg
        install, take = self.install, self._installed_on_worker
        bulk = type(self).install is Coordinator.install  # else each result through it
        while True:
            while ready and pool.has_capacity():
                size = pool.chunk_size(len(ready))
                chunk: Chunk = []
                chains: list[Chunk] = []
                members = 0
                while ready and members < size:
                    r = heapq.heappop(ready)
                    if self.failed is not None and r > self.failed:
                        continue
                    if chains_on and len(succ[r]) == 1 and npred[succ[r][0]] == 1:
                        chain = self.chain(r)
                        chains.append(chain)
                        members += len(chain)
                    else:
                        tx = transactions[r]
                        chunk.append((r, tx, None if roots and not npred[r]
                                      else self.snapshot(r, tx)))
                        members += 1
                if chunk:
                    pool.submit(chunk, record, cancel)
                    self.round_trips += 1
                if chains:
                    pool.submit_chains(chains, record, cancel,  # type: ignore[attr-defined]
                                       self.rank, self.recorder.extend_rows)
                    self.round_trips += 1
                inflight += members
            if not inflight:
                return
            results = self._collect(pool)
            inflight -= len(results)
            if bulk:
                self.install_all(results)
            else:
                for result in results:
                    (take if handed[result.index] else install)(result)
            if release:
                for result in results:
                    for s in succ[result.index]:
                        indeg[s] -= 1
                        if not indeg[s] and not handed[s]:
                            heapq.heappush(ready, s)
            self._after_collect()

    def _collect(self, pool: Pool) -> list[TxResult]:
        """Results from ``pool`` (their workers' events go to the recorder), waiting at most
        until the next poll; raises what stops the batch if its time is up or it was
        interrupted."""
        remaining = None if self.deadline is None else self.deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise self.stopped(ExecutionTimeout, f"batch exceeded its {self.timeout:g} s "
                               "timeout")
        if self.interrupted:
            raise self.stopped(ExecutionInterrupted, "batch interrupted")
        results, events = pool.collect(INTERRUPT_POLL_S if remaining is None
                                       else min(remaining, INTERRUPT_POLL_S))
        if isinstance(events, TraceColumns):
            self.recorder.extend_columns(events)
        elif events:
            self.recorder.extend(events)
        return results

    def _after_collect(self) -> None:
        """Flush the recorded installs when due; stop if the batch's time is up."""
        if len(self.pending) >= FLUSH_ROWS or time.monotonic() >= self.flush_by:
            self.flush()
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise self.stopped(ExecutionTimeout, f"batch exceeded its {self.timeout:g} s "
                               "timeout")

    def _drain_installing(self, pool: ProcessPool) -> None:
        """Dataflow on a pool whose workers install what they run
        (:attr:`~aethel.backends.ProcessPool.installs_on_worker`). A transaction is handed
        to a worker once each of its predecessors is installed in the shared state (it is
        ready: to the least busy worker, in chunks), or earlier, *ahead*, once those not
        installed were all handed to one worker: that worker runs it after them, and the
        round trip through the coordinator between them is saved. A transaction goes ahead
        as the next link of a chain (its predecessor's only successor, with no other
        predecessor), or while its worker holds less than :attr:`AHEAD_US` of estimated
        work; handing one considers its successors at once, so a chain goes whole, in one
        message. A message of ready transactions holds at most a chunk of them and, with
        what follows them, about a chunk's worth of estimated work (so that a long chain
        ends its message, and the next goes to the next least busy worker)."""
        n = len(self.order)
        succ, npred, ready, transactions = self.succ, self.npred, self.ready, self.transactions
        state, handed, indeg = self.state, self.handed, self.indeg
        take = self._installed_on_worker
        dag = self.graph
        rank_of, pstart, preds = dag.rank, dag.pstart, dag.preds
        by_index = dag.costs
        cost = [by_index[v] for v in dag.order]
        mean = sum(cost) / n if n else 0.0
        where = [-1] * n
        installed = bytearray(n)
        early = bytearray(n)
        unsubmitted = list(npred)
        queued = [0.0] * self.executor.workers
        in_chain = bytearray(n)
        cap = self.AHEAD_US
        run = next(_RUNS)
        outbox: dict[int, Chunk] = {}
        inflight = 0

        def owner(s: int) -> int:
            """The one worker holding every predecessor of ``s`` not installed, else -1."""
            w = -1
            for u in preds[pstart[s]:pstart[s + 1]]:
                p = rank_of[u]
                if not installed[p]:
                    if w == -1:
                        w = where[p]
                    elif where[p] != w:
                        return -1
            return w

        def hand(r: int, w: int, members: Chunk) -> None:
            """Hand ``r`` to worker ``w`` (into ``members``), and what may follow it there."""
            stack = [r]
            while stack:
                r = stack.pop()
                where[r] = w
                handed[r] = 1
                if indeg[r]:
                    self.ahead += 1
                    early[r] = 1
                tx = transactions[r]
                members.append((r, tx, None if not npred[r]
                                else {a: state[a] for a in tx.accounts}))
                queued[w] += cost[r]
                link = len(succ[r]) == 1
                for s in succ[r]:
                    unsubmitted[s] -= 1
                    if unsubmitted[s] or where[s] >= 0:
                        continue
                    if link and npred[s] == 1:
                        if not in_chain[r]:
                            in_chain[r] = 1
                            self.chained += 1
                        in_chain[s] = 1
                        self.chained += 1
                        stack.append(s)
                    elif queued[w] < cap and owner(s) == w:
                        stack.append(s)

        def send(w: int, members: Chunk) -> None:
            nonlocal inflight
            awaited = [r for r, _, _ in members if any(where[s] != w for s in succ[r])]
            pool.submit_installing(w, members, run, awaited,
                                   [r for r, _, _ in members if early[r]])
            self.round_trips += 1
            inflight += len(members)

        while True:
            while ready and pool.has_capacity():
                w = pool.next_worker()
                members: Chunk = []
                size = pool.chunk_size(len(ready))
                budget = queued[w] + size * mean
                while ready and len(members) < size and queued[w] < budget:
                    r = heapq.heappop(ready)
                    if where[r] < 0:
                        hand(r, w, members)
                if members:
                    send(w, members)
            if not inflight:
                return
            results = self._collect(pool)
            inflight -= len(results)
            recheck = []
            for result in results:
                r = result.index
                take(result)
                installed[r] = 1
                queued[where[r]] -= cost[r]
                for s in succ[r]:
                    indeg[s] -= 1
                    if where[s] < 0:
                        if not indeg[s]:
                            heapq.heappush(ready, s)
                        elif not unsubmitted[s]:
                            recheck.append(s)
            for s in recheck:
                if where[s] < 0 and indeg[s]:
                    w = owner(s)
                    if w >= 0 and queued[w] < cap:
                        hand(s, w, outbox.setdefault(w, []))
            for w, members in outbox.items():
                if members:
                    send(w, members)
            outbox.clear()
            self._after_collect()

    def _drain_planned(self, pool: ProcessPool) -> None:
        """A planned run: each worker is handed its part of the plan (:attr:`where`) in one
        message and runs it, the ready transaction with the smallest rank first, installing
        each itself and learning that a predecessor planned on another worker ended by a
        message from that worker (:func:`~aethel.backends.run_planned`). The results that
        come back
        enter the shared state in dependency order: one whose predecessors have not all
        entered it waits for them."""
        where = self.where
        assert where is not None
        made = self.graph.ranked.parts
        key = (self.executor.workers, *where)
        if key not in made:
            made[key] = self._parts(where)
        transactions, state = self.transactions, self.state
        run = next(_RUNS)
        for w, part in enumerate(made[key]):
            part = part._replace(initial={a: state[a] for r in part.ranks
                                          for a in transactions[r].accounts})
            pool.submit_planned(w, run, part)
            self.round_trips += 1
        self.handed[:] = b"\x01" * len(self.handed)
        succ, indeg, take = self.succ, self.indeg, self._installed_on_worker
        early: dict[int, TxResult] = {}
        left = len(where)
        while left:
            for result in self._collect(pool):
                if indeg[result.index]:
                    early[result.index] = result
                    continue
                entering = [result]
                while entering:
                    result = entering.pop()
                    take(result)
                    left -= 1
                    for s in succ[result.index]:
                        indeg[s] -= 1
                        if not indeg[s] and s in early:
                            entering.append(early.pop(s))
            self._after_collect()

    def _parts(self, where: list[int]) -> list[Part]:
        """Each worker's part of the plan ``where``, without its initial balances."""
        dag = self.graph
        rank_of, pstart, preds = dag.rank, dag.pstart, dag.preds
        parts = [Part([], {}, {}, {}, {}, {}) for _ in range(self.executor.workers)]
        for r, w in enumerate(where):
            part = parts[w]
            part.ranks.append(r)
            first, last = pstart[r], pstart[r + 1]
            if first == last:
                continue
            part.npred[r] = last - first
            cross = []
            for p in map(rank_of.__getitem__, preds[first:last]):
                owner = where[p]
                if owner == w:
                    part.successors.setdefault(p, []).append(r)
                else:
                    cross.append(p)
                    targets = parts[owner].notify.setdefault(p, [])
                    if w not in targets:
                        targets.append(w)
            if cross:
                part.waits[r] = cross
        return parts

    def _run_in_order(self) -> None:
        """Dataflow on the coordinator's own thread: the ready transaction with the smallest
        rank is always the next rank, so the batch runs in serial order, each transaction
        installed before the next starts, up to an atomic failure (the rest is skipped), a
        timeout or an interruption."""
        record, pid, cancel = self.recorder.record, self.pid, self.cancel
        for r, tx in enumerate(self.transactions):
            if cancel.is_set() or self.interrupted:
                self._stop_now()
            self.install(run_transaction(r, tx, self.snapshot(r, tx), 0, pid, record, cancel))
            if self.deadline is not None and time.monotonic() > self.deadline:
                self._stop_now()
            if self.failed is not None:
                return
            if len(self.pending) >= FLUSH_ROWS or time.monotonic() >= self.flush_by:
                self.flush()

    def _stop_now(self) -> None:
        """Raise what stops the batch now: its timeout, or an interruption."""
        if self.interrupted:
            raise self.stopped(ExecutionInterrupted, "batch interrupted")
        raise self.stopped(ExecutionTimeout, f"batch exceeded its {self.timeout:g} s timeout")

    def chains_allowed(self) -> bool:
        """Whether chains may go to one worker whole: in independent mode (an atomic batch
        must be able to skip what follows a failure), and only with the base
        :meth:`snapshot` and :meth:`install` (a subclass overriding them sees every
        transaction pass through them, as before)."""
        cls = type(self)
        return (self.batch.mode == INDEPENDENT and cls.snapshot is Coordinator.snapshot
                and cls.install is Coordinator.install)

    def chain(self, r: int) -> list[tuple[int, Transaction, Snapshot]]:
        """The maximal chain from ready rank ``r``: each next transaction is the only
        successor of the previous one and has no other predecessor. Every transaction that
        touches a chain member's accounts, other than the chain, depends on a member, so the
        snapshots taken now are what each member sees apart from its predecessors' writes
        (the worker overlays those). Marks the members as handed over."""
        members = [r]
        succ, npred = self.succ, self.npred
        while len(succ[r]) == 1 and npred[succ[r][0]] == 1:
            r = succ[r][0]
            members.append(r)
        if len(members) > 1:
            self.chained += len(members)
        chain = []
        for m in members:
            self.handed[m] = 1
            tx = self.transactions[m]
            chain.append((m, tx, self.snapshot(m, tx)))
        return chain

    def snapshot(self, r: int, tx: Transaction) -> Snapshot:
        """What transaction ``r`` sees: (balance, version) of only its declared accounts."""
        return {a: self.state[a] for a in tx.accounts}

    def install(self, result: TxResult) -> None:
        """Take a transaction's result (:meth:`install_all`)."""
        self.install_all((result,))

    def install_all(self, results: Sequence[TxResult]) -> None:
        """Take transactions' results, in order: install each one's writes (logged in the
        undo log) and record its WRITE and COMMIT events, or record its ABORT (and, in an
        atomic batch, remember the earliest failure). What every install looks up is looked
        up once."""
        handed, store, order, pid = self.handed, self.results, self.order, self.pid
        state, undo = self.state, self.undo
        log, now = self.pending.append, time.monotonic_ns
        for result in results:
            r = result.index
            failed = self.failed
            if handed[r] or not result.ok or (failed is not None and r > failed):
                self._take_uncommitted(result)
                continue
            store[r] = result
            tx_id, worker = order[r], result.worker
            for account, value in result.writes.items():
                previous = state[account]
                if account not in undo:
                    undo[account] = previous
                state[account] = (value, tx_id)
                log((now(), WRITE_CODE, r, worker, pid, account, value, previous[1], None))
            log((now(), COMMIT_CODE, r, worker, pid, None, None, None, None))

    def _take_uncommitted(self, result: TxResult) -> None:
        """A result the coordinator does not commit: a chain member's (its worker installed
        it), a failure, or one skipped after an atomic batch's failure."""
        r = result.index
        if self.handed[r]:
            self._installed_on_worker(result)
            return
        self.results[r] = result
        log = self.pending.append
        if self.failed is not None and r > self.failed:
            log((time.monotonic_ns(), ABORT_CODE, r, result.worker, self.pid, None, None,
                 None, f"skipped: atomic batch aborted by {self.order[self.failed]}"))
            return
        log((time.monotonic_ns(), ABORT_CODE, r, result.worker, self.pid, None, None, None,
             result.reason))
        if self.batch.mode == ATOMIC and (self.failed is None or r < self.failed):
            self.failed = r

    def _installed_on_worker(self, result: TxResult) -> None:
        """Take the result of a chain member: its worker installed it there and recorded its
        events; the writes enter the shared state (and the undo log) in dependency order."""
        self.results[result.index] = result
        if not result.ok:
            return
        tx_id = self.order[result.index]
        state, undo = self.state, self.undo
        for account, value in result.writes.items():
            if account not in undo:
                undo[account] = state[account]
            state[account] = (value, tx_id)

    def flush(self) -> None:
        """Hand the events :meth:`install` recorded to the recorder, in one block (after
        every :data:`FLUSH_ROWS` events or :data:`FLUSH_S` seconds, and when the run ends)."""
        self.flush_by = time.monotonic() + FLUSH_S
        if self.pending:
            pending, self.pending = self.pending, []
            self.recorder.extend_rows(pending)

    def rollback(self) -> None:
        """Restore every account the undo log holds."""
        self.state.update(self.undo)
        self.undo = {}

    def stopped(self, error: type, message: str) -> Exception:
        """The ``error`` that stops the batch, once every started transaction has its ABORT
        and every install is rolled back."""
        self.flush()
        completed = self.results.completed()
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
            if e.kind == START and e.txn not in ended:
                ended.add(e.txn)
                self.recorder.record(Event(ABORT, e.txn, now, e.worker, self.pid,
                                           reason="cancelled: batch stopped"))

    def _outcome(self, r: int) -> Outcome:
        if self.failed is not None:
            if r < self.failed:
                return _ROLLED_BACK
            if r > self.failed:
                return _SKIPPED
        result = self.results[r]
        assert result is not None
        return _COMMITTED if result.ok else Outcome(ABORTED, result.reason)

    def _result(self, groups: list[list[str]], elapsed: float) -> ExecutionResult:
        durations = self.results.durations_us()
        work = sum(durations)
        longest = self.graph.ranked.longest_path(durations)
        workers = self.executor.workers
        metrics = {
            "transactions": float(len(self.order)),
            "work_s": work / 1e6,
            "critical_path_s": longest / 1e6,
            "average_parallelism": (work / 1e6) / elapsed if elapsed > 0 else 0.0,
            "critical_path_bound": min(float(workers), work / longest) if longest else 1.0,
            "throughput_tx_s": len(self.order) / elapsed if elapsed > 0 else 0.0,
            "round_trips": float(self.round_trips),
            "inline": float(self.inline),
            "chained_transactions": float(self.chained),
            "ahead_transactions": float(self.ahead),
            "planned": float(self.where is not None),
            "inline_transactions": float(len(self.order) if self.inline else 0),
        }
        error = None
        if self.failed is not None:
            failing = self.results[self.failed]
            assert failing is not None
            error = (f"atomic batch aborted: transaction {self.order[self.failed]} failed: "
                     f"{failing.reason}; all effects rolled back")
        if self.failed is None:
            outcomes = dict.fromkeys(self.order, _COMMITTED)
            order = self.order
            for r, reason in self.results.reasons.items():
                outcomes[order[r]] = Outcome(ABORTED, reason)
        else:
            outcomes = dict(zip(self.order, map(self._outcome, range(len(self.order))),
                                strict=True))
        ids = self.graph.ids if self.graph.batch is self.batch else self.batch.ids
        if self.order != ids:
            outcomes = {tx_id: outcomes[tx_id] for tx_id in ids}
        state = self.state
        balances, versions = zip(*state.values(), strict=True) if state else ((), ())
        return ExecutionResult(
            final_states=dict(zip(state, balances, strict=True)),
            final_versions=dict(zip(state, versions, strict=True)),
            outcomes=outcomes,
            recorder=self.recorder,
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
        self._inline: InlinePool | None = None
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

    @property
    def inline_pool(self) -> InlinePool:
        """The pool of runs that parallelism cannot pay for: the coordinator's own thread."""
        if self._inline is None:
            self._inline = InlinePool()
        return self._inline

    def start_pool(self) -> Pool:
        """A new worker pool of :attr:`backend` with :attr:`workers` workers (a hook: the
        harness's mutant executors start their own)."""
        return make_pool(self.backend, self.workers)

    def execute(self, batch: Batch, graph: Graph | None = None, *,
                schedule: str | None = None) -> ExecutionResult:
        """Run ``batch`` (on ``schedule``, by default :attr:`schedule`); the result equals
        serial execution in serial order.

        Transaction failures are outcomes, not exceptions. Raises
        :class:`~aethel.errors.ExecutionTimeout` or :class:`~aethel.errors.WorkerCrashedError`
        after rolling back; the executor stays usable.
        """
        schedule = self.schedule if schedule is None else check_schedule(schedule)
        graph = graph if graph is not None else dependency_dag(batch)
        coordinator = self.coordinator_class(self, batch, graph, schedule,
                                             self._timeout_for(batch, graph))
        self._running = coordinator
        try:
            with paused_gc():
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

    def _timeout_for(self, batch: Batch, graph: Graph) -> float | None:
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
