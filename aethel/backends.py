"""Worker pools behind the executor: inline (serial), threads and processes.

Every pool provides :class:`Pool`, all the coordinator uses. A pool runs *chunks* — lists
of ``(index, transaction, snapshot)`` — and hands back :class:`~aethel.context.TxResult`
lists. It never sees the shared state. ``reset()`` discards everything in flight: threads
are retired (Python cannot kill a thread; a straggler finishes on its own and its result is
dropped), processes are killed and replaced; ``ready()``, called before a run's clock
starts, waits for replacements to be up. Nothing a transaction raises, and no result of one
that cannot be pickled, ends a worker's loop.

Transactions and operations cross the process boundary through reducers registered with
multiprocessing's pickler: they rebuild each object exactly as default unpickling does
(every field set, ``__init__`` not run) without the dataclass ``__getstate__`` and
``__setstate__``, which look up the fields on every call. A process pool told a run's
transactions and initial balances (:meth:`ProcessPool.prepare`) sends each worker the
balances once and each transaction once, with the first chunk that hands it to that worker;
a chunk then names the transactions the worker holds by rank, gives the snapshots of
transactions that are not roots (a worker takes a root's from the initial balances), and
its events come back as
:class:`~aethel.trace.TraceColumns`. A worker process may also install what it runs
(:meth:`ProcessPool.submit_installing`, :func:`run_installing`), and so may a worker thread
handed chains (:meth:`ThreadPool.submit_chains`). The workers of a process pool are linked
by pipes, one each way between every two, so that a planned batch
(:meth:`ProcessPool.submit_planned`, :func:`run_planned`) passes what one transaction
leaves to its successor on another worker without the coordinator.
"""

from __future__ import annotations

import fcntl
import heapq
import math
import multiprocessing as mp
import operator
import os
import queue
import select
import signal
import sys
import termios
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence, Set
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, is_dataclass
from functools import partial
from multiprocessing.connection import Connection, wait
from multiprocessing.reduction import ForkingPickler
from types import MemberDescriptorType
from typing import Any, NamedTuple, Protocol

from aethel import operations
from aethel.context import Recorder, Snapshot, TxResult, as_result, run_transaction
from aethel.errors import describe_exception
from aethel.model import Transaction
from aethel.trace import (
    ABORT_CODE,
    COMMIT_CODE,
    INIT,
    START,
    WRITE_CODE,
    Event,
    Row,
    TraceColumns,
)

Chunk = list[tuple[int, Transaction, Any]]

_FIELDS: dict[type, tuple[str, ...]] = {}
_GETTERS: dict[type, Callable[[Any], tuple[Any, ...]]] = {}
_SETTERS: dict[type, tuple[Callable[[Any, Any], None], ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in fields(cls))
    return names


def _setters(cls: type) -> tuple[Callable[[Any, Any], None], ...]:
    """How to set each field of ``cls`` past a frozen dataclass's ``__setattr__`` (kept in
    ``_SETTERS``): its slot's descriptor, a third faster than ``object.__setattr__`` by
    name."""
    setters = _SETTERS[cls] = tuple(
        slot.__set__ if isinstance(slot := getattr(cls, name, None), MemberDescriptorType)
        else partial(_set_by_name, name=name) for name in _field_names(cls))
    return setters


def _set_by_name(obj: Any, value: Any, name: str) -> None:
    object.__setattr__(obj, name, value)


def _rebuild(cls: type, values: tuple[Any, ...]) -> Any:
    obj = object.__new__(cls)
    for set_field, value in zip(_SETTERS.get(cls) or _setters(cls), values, strict=True):
        set_field(obj, value)
    return obj


def _reduce(obj: Any) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    cls = type(obj)
    getter = _GETTERS.get(cls)
    if getter is None:
        names = _field_names(cls)
        fetch = operator.attrgetter(*names)
        getter = _GETTERS[cls] = fetch if len(names) > 1 else lambda o: (fetch(o),)
    return _rebuild, (cls, getter(obj))


for _cls in (Transaction, *(c for c in vars(operations).values() if isinstance(c, type)
                            and is_dataclass(c) and c.__module__ == operations.__name__)):
    ForkingPickler.register(_cls, _reduce)


class Pool(Protocol):
    """What a worker pool provides to the coordinator (and to whoever measures its workers).

    The coordinator calls :meth:`ready` before a run's clock starts; then, while
    transactions are ready and the pool :meth:`has_capacity`, it calls :meth:`submit` with
    chunks of :meth:`chunk_size` transactions, and :meth:`collect` for their results. After
    a timeout, a lost worker or an interruption it calls :meth:`reset`; :meth:`close` stops
    the workers.
    """

    def ready(self) -> None:
        """Return once every worker is up; raise :class:`WorkerLost` if one never starts."""

    def chunk_size(self, ready: int) -> int:
        """How many of ``ready`` transactions to submit in the next chunk."""

    def has_capacity(self) -> bool:
        """Whether another chunk may be submitted now."""

    def submit(self, chunk: Chunk, record: Recorder, cancel: threading.Event) -> None:
        """Start running ``chunk``; ``record`` takes events recorded in this process,
        ``cancel`` stops transactions that look at it."""

    def collect(self, timeout: float | None) -> tuple[list[TxResult], list[Event]]:
        """Results finished within ``timeout`` seconds, and the events recorded elsewhere
        (in worker processes) for them; raise :class:`WorkerLost` if a worker died."""

    def reset(self) -> None:
        """Discard everything in flight, so that the pool can serve the next run."""

    def close(self) -> None:
        """Stop the workers."""

    def pids(self) -> list[int]:
        """Process ids of the worker processes (none when the workers are threads of this
        process)."""


class WorkerLost(Exception):
    """A worker process died; ``worker`` is its id."""

    def __init__(self, worker: int, exitcode: int | None, what: str = "died") -> None:
        self.worker = worker
        self.exitcode = exitcode
        super().__init__(f"worker {worker} {what} (exit code {exitcode})")


class InlinePool:
    """Runs each chunk at once in the calling thread, as worker 0: the serial reference."""

    kind = "serial"

    def __init__(self) -> None:
        self.workers = 1
        self._done: list[TxResult] = []

    def ready(self) -> None:
        """Nothing to start: the calling thread is the worker."""

    def chunk_size(self, ready: int) -> int:
        """Everything ready: transactions ready together are independent of each other."""
        return ready

    def has_capacity(self) -> bool:
        return not self._done

    def submit(self, chunk: Chunk, record: Recorder, cancel: threading.Event) -> None:
        """Run ``chunk`` now, up to a cancellation (the rest never starts)."""
        pid = os.getpid()
        done = self._done
        for i, tx, snap in chunk:
            if cancel.is_set():
                break
            done.append(run_transaction(i, tx, snap, 0, pid, record, cancel))

    def collect(self, timeout: float | None) -> tuple[list[TxResult], list[Event]]:
        done, self._done = self._done, []
        return done, []

    def reset(self) -> None:
        self._done = []

    def close(self) -> None:
        self._done = []

    def pids(self) -> list[int]:
        """None: the worker is the calling thread."""
        return []


def run_chunk(chunk: Chunk, worker: int, pid: int, record: Recorder,
              cancel: threading.Event | None = None, plain: bool = False) -> list[TxResult]:
    """One result per transaction of ``chunk``, in order, even if running one raised: a
    worker loop outlives anything a transaction does. ``plain``: events are recorded as
    plain tuples (see :func:`~aethel.context.run_transaction`)."""
    return [run_one(i, tx, snap, worker, pid, record, cancel, plain) for i, tx, snap in chunk]


def run_one(index: int, tx: Transaction, snapshot: Any, worker: int, pid: int,
            record: Recorder, cancel: threading.Event | None = None,
            plain: bool = False) -> TxResult:
    """The result of running ``tx``, a failed one if running it raised."""
    try:
        return run_transaction(index, tx, snapshot, worker, pid, record, cancel, plain)
    except BaseException as exc:
        return TxResult(index, False, describe_exception(exc), {}, 0, worker)


Installed = dict[str, tuple[int, str, int]]
"""What a worker installed itself in one run: account → (balance, version, the writer's rank)."""


def run_installing(members: Chunk, worker: int, pid: int, record: Recorder,
                   log: Callable[[Row], None], local: Installed, rank: Mapping[str, int],
                   after_each: Callable[[list[TxResult]], None] | None = None,
                   cancel: threading.Event | None = None,
                   ahead: Set[int] | None = None, plain: bool = False) -> list[TxResult]:
    """Run ``members`` in order on this worker, which installs each one's writes in
    ``local`` and logs its WRITE rows (the version each replaced) and COMMIT, or its ABORT,
    with ``log`` (rows of :data:`~aethel.trace.Row`, transactions by rank) before the next
    one starts; START and READ go to ``record``. ``after_each`` is called with the results
    so far as each transaction ends.

    The coordinator hands a transaction to a worker once each of its predecessors is either
    installed in the shared state or handed to that same worker earlier (a chain is the
    simplest case), and takes its snapshot then. A transaction sees, of each account, the
    later of the snapshot's write and the worker's own (by the writers' ranks, ``rank``
    mapping a version to its writer's): the last writer before it is one of its
    predecessors, installed before the snapshot was taken or run earlier here, and any
    other transaction touching the account is ordered with it. A result that could not be
    sent back fails its transaction instead, before anything is installed. Once ``cancel``
    is set, the members not yet started are left out. ``ahead``, when given, names the
    members handed before all their predecessors were installed: only they can need the
    worker's own writes (the others' snapshots were taken after their predecessors').
    ``plain``: events are recorded as plain tuples (see
    :func:`~aethel.context.run_transaction`)."""
    done: list[TxResult] = []
    for i, tx, snap in members:
        if cancel is not None and cancel.is_set():
            break  # the batch is stopping: the rest never starts
        if local and (ahead is None or i in ahead):
            snap = {a: _later(local.get(a), seen, rank) for a, seen in snap.items()}
        done.append(_run_installed(i, tx, snap, worker, pid, record, log, local, cancel,
                                   plain))
        if after_each is not None:
            after_each(done)
    return done


def _run_installed(i: int, tx: Transaction, snap: Snapshot, worker: int, pid: int,
                   record: Recorder, log: Callable[[Row], None], local: Installed,
                   cancel: threading.Event | None = None, plain: bool = False) -> TxResult:
    """Run ``tx`` (rank ``i``) on a worker that installs it: its writes go to ``local`` and
    its WRITE rows (the version each replaced) and COMMIT, or its ABORT, to ``log``. A
    result that could not be sent back fails the transaction, before anything is
    installed."""
    clock = time.monotonic_ns
    result = run_one(i, tx, snap, worker, pid, record, cancel, plain)
    if result.ok and (unsendable := _unsendable(result)) is not None:
        result = result._replace(ok=False, writes={}, reason=unsendable)
    if not result.ok:
        log((clock(), ABORT_CODE, i, worker, pid, None, None, None, result.reason))
        return result
    tx_id = tx.id
    for account, value in result.writes.items():
        local[account] = (value, tx_id, i)
        log((clock(), WRITE_CODE, i, worker, pid, account, value, snap[account][1], None))
    log((clock(), COMMIT_CODE, i, worker, pid, None, None, None, None))
    return result


def _later(mine: tuple[int, str, int] | None, seen: tuple[int, str], rank: Mapping[str, int]
           ) -> tuple[int, str]:
    """Of an account's write installed here (``mine``) and the snapshot's (``seen``), the
    later one."""
    if mine is None or mine[2] < rank.get(seen[1], -1):
        return seen
    return mine[0], mine[1]


class Part(NamedTuple):
    """One worker's part of a planned batch (see :func:`run_planned`)."""

    ranks: list[int]
    """The ranks it runs, in rank order."""
    npred: dict[int, int]
    """How many predecessors each rank that has some waits for, wherever they run."""
    successors: dict[int, list[int]]
    """Each rank's successors on this worker."""
    waits: dict[int, list[int]]
    """Each rank's predecessors on other workers."""
    notify: dict[int, list[int]]
    """The other workers that run successors of each rank."""
    initial: dict[str, tuple[int, str]]
    """(balance, version) of each account its ranks touch, before the batch."""


def run_planned(part: Part, batch: Sequence[Transaction], worker: int, pid: int,
                record: Recorder, log: Callable[[Row], None],
                receive: Callable[[bool], tuple[int, Installed] | None],
                send: Callable[[int, int, Installed], None],
                after_each: Callable[[list[TxResult]], None] | None = None,
                plain: bool = False) -> list[TxResult]:
    """Run this worker's part of a planned batch (:meth:`ProcessPool.submit_planned`),
    installing each transaction's writes on the worker and logging its rows as
    :func:`run_installing` does, with no coordinator between them; the results in the
    order they ran.

    A rank is ready once each of its predecessors has run here or, on another worker, has
    been announced by a message from that worker; of the ready ranks the smallest runs
    next, and when none is ready the worker waits for a message (``receive(True)``;
    ``receive(False)`` takes one already here, or None). After running ``i``,
    ``send(w, i, after)`` tells each worker in ``part.notify[i]`` that it ended, ``after``
    giving each account ``i`` may write as it is now: (balance, version, the writer's rank),
    which is ``i``'s own write or, where it wrote nothing (it failed, or left the account
    alone), the write it saw. A transaction sees, of each account, the write with the
    latest writer among ``part.initial`` (writer rank -1), its own worker's and those
    received: the last transaction before it that may write an account is one of its
    predecessors (a RAW or WAW edge), so it ran here or its message arrived before, carrying
    the account's latest write; and a later one depends on it (WAR or WAW) and cannot have
    run yet. ``plain``: events are recorded as plain tuples (see
    :func:`~aethel.context.run_transaction`)."""
    local: Installed = {a: (v, version, -1) for a, (v, version) in part.initial.items()}
    pending = dict(part.npred)
    successors, notify = part.successors, part.notify
    awaited: dict[int, list[int]] = {}
    for r, cross in part.waits.items():
        for p in cross:
            awaited.setdefault(p, []).append(r)
    ready = [r for r in part.ranks if r not in pending]
    heapq.heapify(ready)
    done: list[TxResult] = []
    expected = len(awaited)  # messages still to come: one from each awaited rank

    def arrived(message: tuple[int, Installed]) -> None:
        nonlocal expected
        q, after = message
        for account, latest in after.items():
            mine = local.get(account)
            if mine is None or mine[2] < latest[2]:
                local[account] = latest
        for r in awaited.get(q, ()):
            pending[r] -= 1
            if not pending[r]:
                heapq.heappush(ready, r)
        expected -= q in awaited

    left = len(part.ranks)
    while left:
        while (expected or not ready) and (message := receive(not ready)) is not None:
            arrived(message)
        i = heapq.heappop(ready)
        left -= 1
        tx = batch[i]
        snap = {a: local[a][:2] for a in tx.accounts}
        result = _run_installed(i, tx, snap, worker, pid, record, log, local, None, plain)
        done.append(result)
        for s in successors.get(i, ()):
            pending[s] -= 1
            if not pending[s]:
                heapq.heappush(ready, s)
        if i in notify:
            after = {a: local[a] for a in tx.writes}
            for w in notify[i]:
                send(w, i, after)
        if after_each is not None:
            after_each(done)
    return done


class Chains(list):
    """Chains handed to one worker thread in one message, their transactions in an order
    that respects their dependencies, which the worker installs itself
    (:func:`run_installing`); :attr:`rank` maps a version to its writer's rank, and
    :attr:`log_rows` records rows."""

    rank: Mapping[str, int] = {}
    log_rows: Callable[[list[Row]], None]


class Partial(list):
    """Results a worker thread hands back while its chains still run (the chunk is not
    done)."""


def _unsendable(result: TxResult) -> str | None:
    """Why ``result`` cannot be sent to the coordinator (it does not pickle), or None
    (certainly so when its writes are plain integers)."""
    if all(type(v) is int for v in result.writes.values()):
        return None
    try:
        ForkingPickler.dumps(tuple(result))
    except BaseException as exc:
        return f"result cannot be sent: {describe_exception(exc)}"
    return None


def thread_worker(tasks: queue.SimpleQueue, results: queue.SimpleQueue, worker: int) -> None:
    """A worker thread's loop: the results of each chunk from ``tasks`` put on ``results``,
    until ``None`` arrives."""
    pid = os.getpid()
    while (item := tasks.get()) is not None:
        chunk, record, cancel = item
        if type(chunk) is Chains:
            _thread_chains(chunk, worker, pid, record, cancel, results)
        else:
            results.put(run_chunk(chunk, worker, pid, record, cancel))


def _thread_chains(chains: Chains, worker: int, pid: int, record: Recorder,
                   cancel: threading.Event, results: queue.SimpleQueue) -> None:
    """Run ``chains`` on this worker thread, handing back each result as its transaction
    ends (as :class:`Partial`; what is left, perhaps nothing, as the chunk's end), its rows
    handed to the recorder first. Handing back costs a put: the coordinator, which shares
    the GIL, takes whatever has piled up when it runs."""
    total = len(chains)
    sent = [0]
    rows: list[Row] = []

    def report(done: list[TxResult]) -> None:
        if len(done) < total:
            chains.log_rows(rows)
            rows.clear()
            results.put(Partial(done[sent[0]:]))
            sent[0] = len(done)

    done = run_installing(chains, worker, pid, record, rows.append, {}, chains.rank, report,
                          cancel)
    chains.log_rows(rows)
    results.put(done[sent[0]:])


class ThreadPool:
    """``workers`` daemon threads sharing one task queue; results come back on a queue.
    Each thread runs :attr:`worker_main`."""

    kind = "thread"
    installs_on_worker = False
    """Transactions outside chains are installed by the coordinator (it shares the GIL
    with the workers: recording elsewhere would save nothing)."""
    DEPTH = 2
    MAX_CHUNK = 64
    """The most transactions in one chunk: each chunk costs the coordinator a queue round
    trip under the GIL the workers share (4,000 trivial transactions: 4.6 µs of coordinator
    CPU each with 16, 4.0 with 64), and guided chunks shrink towards the end anyway."""
    worker_main: Callable[[queue.SimpleQueue, queue.SimpleQueue, int], None] = \
        staticmethod(thread_worker)
    """The loop of worker thread ``worker``: ``worker_main(tasks, results, worker)`` (a hook:
    the harness's mutant executors replace it)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._inflight = 0
        self._start()

    def _start(self) -> None:
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._results: queue.SimpleQueue = queue.SimpleQueue()
        self._inflight = 0
        for worker in range(self.workers):
            threading.Thread(target=self.worker_main, args=(self._tasks, self._results, worker),
                             name=f"aethel-worker-{worker}", daemon=True).start()

    def ready(self) -> None:
        """Nothing to wait for: a thread is up as soon as it is started."""

    def chunk_size(self, ready: int) -> int:
        """Guided, as on processes: large while many are ready, single ones at the end."""
        return max(1, min(self.MAX_CHUNK, ready // (4 * self.workers)))

    def has_capacity(self) -> bool:
        return self._inflight < self.workers * self.DEPTH

    @property
    def takes_chains(self) -> bool:
        """Whether :meth:`submit_chains` may be used: only with the base worker loop."""
        return self.worker_main is thread_worker

    def submit(self, chunk: Chunk, record: Recorder, cancel: threading.Event) -> None:
        self._tasks.put((chunk, record, cancel))
        self._inflight += 1

    def submit_chains(self, chains: list[Chunk], record: Recorder, cancel: threading.Event,
                      rank: Mapping[str, int], log_rows: Callable[[list[Row]], None]
                      ) -> None:
        """Start running ``chains`` on one worker thread, which installs and records each
        transaction before the next one starts (:func:`run_installing`; ``rank`` maps a
        transaction id to its rank, ``log_rows`` records its rows)."""
        group = Chains(m for chain in chains for m in chain)
        group.rank = rank
        group.log_rows = log_rows
        self.submit(group, record, cancel)

    def collect(self, timeout: float | None) -> tuple[list[TxResult], list[Event]]:
        try:
            batches = [self._results.get(timeout=timeout)]
        except queue.Empty:
            return [], []
        while True:
            try:
                batches.append(self._results.get_nowait())
            except queue.Empty:
                break
        self._inflight -= sum(type(b) is not Partial for b in batches)
        return [r for results in batches for r in results], []

    def reset(self) -> None:
        self.close()
        self._start()

    def close(self) -> None:
        for _ in range(self.workers):
            self._tasks.put(None)

    def pids(self) -> list[int]:
        """None: the workers are threads of this process."""
        return []


PAGE = 4096
"""A pipe holds its unread bytes in pages of this size, and the first may be part read."""
_GETPIPE_SZ: int | None = getattr(fcntl, "F_GETPIPE_SZ", None)
"""The ``fcntl`` command that tells a pipe's size (Linux only)."""


def _pipe_room(fd: int) -> int:
    """Bytes that can surely be written to the pipe ``fd`` without blocking (Linux: its
    size less the pages its unread bytes may take, one more for a part-read first page);
    0 where that cannot be known."""
    if _GETPIPE_SZ is None:
        return 0
    try:
        size = fcntl.fcntl(fd, _GETPIPE_SZ)
        unread = int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, bytes(4)), sys.byteorder,
                                signed=True)
    except OSError:
        return 0
    return size - PAGE * (unread // PAGE + 2)


class _Outbox:
    """Messages to one worker process, in order, never blocking the coordinator on a full
    pipe (a worker reads its next message only between chunks). A message the pipe surely
    has room for, put while nothing waits to be written, is written at once; anything else
    is pickled and written by a thread of its own, which wakes only then (each wake costs
    the coordinator's process CPU). A plain pipe, not a multiprocessing queue: a queue
    holds named semaphores, which a process killed at the wrong moment leaves registered,
    for the resource tracker to warn about at exit. Only the thread closes the pipe, after
    what was put before, so that no write can reach a reused descriptor."""

    HEADER = 4
    """The bytes :meth:`Connection.send_bytes` puts before a message."""

    def __init__(self, pipe: Connection) -> None:
        self._pipe = pipe
        self._put = 0
        """Messages given to the thread (counted by the coordinator only)."""
        self._written = 0
        """Messages the thread has written (counted by the thread only)."""
        self._messages: queue.SimpleQueue[tuple[bool, Any, Any]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write, args=(pipe,),
                                        name="aethel-outbox", daemon=True)
        self._thread.start()

    def put(self, message: Any) -> None:
        """Send ``message`` (None tells the worker to stop)."""
        data = None
        if message is not None and self._put == self._written:
            data = ForkingPickler.dumps(message)
            if len(data) + self.HEADER <= _pipe_room(self._pipe.fileno()):
                _send(self._pipe, data)
                return
        self._put += 1
        self._messages.put((False, message, data))

    def close(self) -> None:
        """Close the pipe once what was put before is written."""
        self._put += 1
        self._messages.put((True, None, None))

    def _write(self, pipe: Connection) -> None:
        while True:
            last, message, data = self._messages.get()
            if last:
                pipe.close()
                return
            _send(pipe, ForkingPickler.dumps(message) if data is None else data)
            self._written += 1


def _send(pipe: Connection, data: Any) -> None:
    """Write the pickled message ``data`` to a worker's task pipe."""
    try:
        pipe.send_bytes(data)
    except (OSError, ValueError):
        pass  # the worker is gone: the coordinator finds out from its sentinel


@dataclass
class _Proc:
    worker: int
    process: Any
    tasks: _Outbox
    results: Connection
    inflight: int = 0
    started: bool = False
    """Whether the worker's hello has been read."""
    loaded: object = None
    """The token of the run's transactions the worker knows of (see
    :meth:`ProcessPool.prepare`)."""
    holds: bytearray = field(default_factory=bytearray)
    """1 for each rank whose transaction the worker holds (of the transactions of
    :attr:`loaded`)."""
    balances: object = None
    """The token of the initial balances the worker holds."""


_fork_server_user: int | None = None
"""The process that uses the fork server: the first to ask for :func:`worker_context`."""


def worker_context() -> Any:
    """The multiprocessing context workers are started in: forked from multiprocessing's
    fork server, a clean single-threaded process started once per coordinator process with
    the engine imported, where there is one (not on Windows); else spawned. A forked worker is
    up in some 5-10 ms where a spawned one takes some 190 ms of a new interpreter importing
    the engine, which a pool pays again for every worker it replaces (after a timeout, a
    crash or an interrupted run). Either way a worker starts from a clean process: it
    inherits no thread, lock or state of the coordinator, and is handed its environment
    (:func:`_process_main`) as a spawned one gets it. A process forked from one that uses
    the fork server (``os.fork``, the ``fork`` start method) cannot reach that server, which
    is not its child: it spawns its workers."""
    global _fork_server_user
    if _fork_server_user is None:
        _fork_server_user = os.getpid()
    if "forkserver" not in mp.get_all_start_methods() or _fork_server_user != os.getpid():
        return mp.get_context("spawn")
    context = mp.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


class ProcessPool:
    """``workers`` worker processes (see :func:`worker_context`). Each has its own task pipe
    (an :class:`_Outbox`, so the coordinator never blocks sending) and result pipe; up to
    ``DEPTH`` chunks are in flight per worker so that none idles between chunks. Chunks are
    guided: large while many transactions are ready, smaller towards the end to balance the
    tail."""

    kind = "process"
    installs_on_worker = True
    """In a batch that allows it, every transaction's worker installs it and records its
    WRITE and COMMIT events (:meth:`submit_installing`), which the coordinator would
    otherwise record, unpickle and merge; and a transaction may be handed to the worker
    that holds its pending predecessors before they end."""
    takes_plans = True
    """Whether a planned batch can go to the workers whole (:meth:`submit_planned`)."""
    takes_root_snapshots = True
    """Whether a chunk may give a root's snapshot as None (see :meth:`prepare`)."""
    DEPTH = 2
    MAX_CHUNK = 128
    """The most transactions in one chunk: each message costs both sides some 50–100 µs, and
    guided chunks shrink towards the end anyway (on 2 cores, cpu-0.1ms ran 2 % faster with
    128 than with 64, and none of the six other process workloads tried ran slower)."""
    GUIDED = 2
    """How many chunks each worker's share of the ready transactions is cut into. Each chunk
    costs both sides a message, and with :attr:`DEPTH` chunks in flight per worker the
    tail still balances: on 2 cores, medians of 9 interleaved runs against 4 were 0.4-1.5 %
    faster on cpu-0.1ms, cpu-1ms, contention-low, contention-high, dag-independent and hash,
    and equal on cpu-10ms, dag-chains and dag-skewed; 1 was 4-20 % slower on cpu-1ms,
    cpu-10ms and dag-independent (too much in flight to balance the end)."""
    START_TIMEOUT = 60.0
    """Seconds :meth:`ready` waits for workers to start (generous: spawning under load is
    slow, but a worker that never says hello must not hang the executor)."""

    def __init__(self, workers: int, max_chunk: int | None = None) -> None:
        self.workers = workers
        self.max_chunk = max_chunk or self.MAX_CHUNK
        self._ctx = worker_context()
        self._batch: list[Transaction] = []
        self._token: object = None
        self._balances: dict[str, int] | None = None
        self._balances_token: object = None
        self.linked = False
        """Whether every worker was started with pipes to the others (see :meth:`link`)."""
        self._procs: list[_Proc] = []
        self._watch: tuple[Any, dict[int, tuple[_Proc, bool]]] | None = None
        try:
            self.link()
            self.ready()
        except WorkerLost:
            self.close()
            raise

    def ready(self) -> None:
        """Wait for the hello of every worker not yet started (new ones, and replacements of
        killed or dead ones), so that start-up is not billed to a batch's timeout. Raises
        :class:`WorkerLost` if one dies or is silent for ``START_TIMEOUT`` seconds."""
        deadline = time.monotonic() + self.START_TIMEOUT
        for proc in self._procs:
            if not proc.started:
                self._await_hello(proc, deadline)

    def _await_hello(self, proc: _Proc, deadline: float) -> None:
        try:
            if not proc.results.poll(max(0.0, deadline - time.monotonic())):
                raise WorkerLost(proc.worker, proc.process.exitcode,
                                 f"did not start within {self.START_TIMEOUT:g} s")
            proc.results.recv()
        except EOFError:
            proc.process.join(timeout=5)
            raise WorkerLost(proc.worker, proc.process.exitcode,
                             "failed to start (a script that uses the process backend needs the "
                             "`if __name__ == \"__main__\":` guard, as with any multiprocessing "
                             "code)") from None
        proc.started = True

    def link(self) -> None:
        """Make sure every worker has a pipe to every other, as a planned batch needs
        (:meth:`submit_planned`): if one was replaced since the workers were linked, all of
        them are restarted, linked (before a run: none has work in flight), and so are they
        if one has died."""
        if self.linked and not wait([proc.process.sentinel for proc in self._procs], 0):
            return  # (a sentinel shows a death before waitpid does)
        ends = {(a, b): self._ctx.Pipe(duplex=False)
                for a in range(self.workers) for b in range(self.workers) if a != b}
        for proc in self._procs:
            self._stop(proc, kill=False)
        self._procs = []
        self._watch = None
        others = [[o for o in range(self.workers) if o != w] for w in range(self.workers)]
        try:
            for w in range(self.workers):
                self._procs.append(self._spawn(w, ([ends[o, w][0] for o in others[w]],
                                                   {o: ends[w, o][1] for o in others[w]})))
        finally:
            for reader, writer in ends.values():
                reader.close()
                writer.close()
        self.linked = True

    def _spawn(self, worker: int,
               links: tuple[list[Connection], dict[int, Connection]] | None = None) -> _Proc:
        if _NO_NEW_WORKERS.is_set():
            raise WorkerLost(worker, None, "not started: this process is ending")
        reader, writer = self._ctx.Pipe(duplex=False)
        inbox, outbox = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(target=_process_main,
                                    args=(inbox, writer, worker, os.getpid(), links,
                                          dict(os.environ)),
                                    name=f"aethel-worker-{worker}", daemon=True)
        try:
            with signals_held():
                process.start()
        except BaseException:
            outbox.close()
            raise
        finally:
            writer.close()
            inbox.close()
        return _Proc(worker, process, _Outbox(outbox), reader)

    def chunk_size(self, ready: int) -> int:
        """Guided: at most a ``1 / (GUIDED × workers)`` share of the ready transactions."""
        return max(1, min(self.max_chunk, -(-ready // (self.GUIDED * self.workers))))

    def has_capacity(self) -> bool:
        return any(p.inflight < self.DEPTH for p in self._procs)

    def prepare(self, transactions: list[Transaction], balances: Mapping[str, int]) -> None:
        """The run's transactions, by rank, and its initial balances. Each worker is sent
        the balances and the transactions' ids once, and a transaction with the first
        chunk (or plan) that hands it to that worker: the worker keeps it, and a later
        chunk names it by its rank alone. So a new batch is shipped as it runs, each
        transaction to the worker that runs it, and a batch run again is not shipped again.
        A chunk gives the snapshot of a root (a transaction without predecessors, which
        sees its accounts as they were at the start) as None: the worker takes it from the
        initial balances."""
        batch = self._batch
        if not (len(batch) == len(transactions)
                and all(map(operator.is_, batch, transactions))):
            self._batch = list(transactions)
            self._token = object()
        if balances != self._balances:
            self._balances = dict(balances)
            self._balances_token = object()

    def next_worker(self) -> int:
        """The worker the next chunk would go to: the one with the fewest in flight."""
        return min(self._procs, key=lambda p: p.inflight).worker

    def submit_installing(self, worker: int, members: Chunk, run: int,
                          awaited: Collection[int] = (), ahead: Collection[int] = ()) -> None:
        """Hand ``members`` to ``worker``, which runs them after what it was handed before,
        installing each one's writes itself and recording its events (see
        :func:`run_installing`); ``run`` names the run (a worker forgets what it installed
        in another). The results of ``awaited`` (ranks that a transaction not handed to
        this worker depends on) are sent soon after they end (:data:`AWAITED_REPORT_S`), the
        others at least every :data:`REPORT_S`. ``ahead`` names the members handed before
        all their predecessors were installed."""
        proc = self._procs[worker]
        if not proc.inflight and not proc.process.is_alive():
            proc = self._replace(proc)
        self._load(proc)
        proc.tasks.put(("install", (run, self._shrink(proc, members), awaited, ahead)))
        proc.inflight += 1

    def submit_planned(self, worker: int, run: int, part: Part) -> None:
        """Hand ``worker`` its whole ``part`` of a planned batch (see :func:`run_planned`);
        ``run`` names the run. The workers must be linked (:meth:`link`)."""
        proc = self._procs[worker]
        self._load(proc)
        holds, batch = proc.holds, self._batch
        shipped = [(i, batch[i]) for i in part.ranks if not holds[i]]
        for i, _ in shipped:
            holds[i] = 1
        proc.tasks.put(("plan", (run, tuple(part), shipped)))
        proc.inflight += 1

    def submit(self, chunk: Chunk, record: Recorder, cancel: threading.Event) -> None:
        proc = self._least_busy()
        proc.tasks.put(("run", self._shrink(proc, chunk)))
        proc.inflight += 1

    def _least_busy(self) -> _Proc:
        """The worker with the fewest chunks in flight (replaced first if it died idle),
        holding the run's transactions."""
        proc = min(self._procs, key=lambda p: p.inflight)
        if not proc.inflight and not proc.process.is_alive():
            proc = self._replace(proc)
        self._load(proc)
        return proc

    def _load(self, proc: _Proc) -> None:
        """Send ``proc`` the run's transaction ids and initial balances unless it has
        them."""
        ids = balances = None
        if proc.loaded is not self._token:
            ids = [tx.id for tx in self._batch]
            proc.loaded = self._token
            proc.holds = bytearray(len(ids))
        if self._balances is not None and proc.balances is not self._balances_token:
            balances = self._balances
            proc.balances = self._balances_token
        if ids is not None or balances is not None:
            proc.tasks.put(("load", (ids, balances)))

    def _shrink(self, proc: _Proc, chunk: Chunk) -> Chunk:
        """``chunk`` as sent to ``proc``: each of the run's transactions it holds as None
        (and each other one it then holds)."""
        holds, batch = proc.holds, self._batch
        size = len(batch)
        sent = []
        for i, tx, snap in chunk:
            if i < size:
                if batch[i] is not tx:
                    holds[i] = 0  # the worker keeps this one at rank i instead
                elif holds[i]:
                    tx = None
                else:
                    holds[i] = 1
            sent.append((i, tx, snap))
        return sent

    def collect(self, timeout: float | None) -> tuple[list[TxResult], TraceColumns]:
        """Results within ``timeout`` seconds, and their workers' events as columns
        (transaction indices are ranks). Results already waiting are taken without a
        system-wide wait; only when none is, the workers' pipes and lives are waited on."""
        results: list[TxResult] = []
        events = TraceColumns()
        if self._take_waiting(results, events):
            return results, events
        poller, watched = self._watched()
        replaced: set[int] = set()
        wait_ms = None if timeout is None else max(0, math.ceil(timeout * 1000))
        for fd, _ in poller.poll(wait_ms):
            proc, is_pipe = watched[fd]
            if id(proc) in replaced:
                continue
            if is_pipe:
                try:
                    message = proc.results.recv()
                except (EOFError, OSError):
                    pass
                else:
                    if message is None:  # the hello of a worker replaced during this run
                        proc.started = True
                    else:
                        self._take(proc, message, results, events)
                    continue
            elif proc.results.poll():
                continue
            if proc.inflight:
                raise WorkerLost(proc.worker, proc.process.exitcode)
            replaced.add(id(proc))
            self._replace(proc)
        return results, events

    def _take_waiting(self, results: list[TxResult], events: TraceColumns) -> bool:
        """Read every chunk result waiting in a started worker's pipe into ``results`` and
        ``events``; whether there was one. Anything else (a hello, a closed pipe) is left to
        :meth:`collect`'s wait."""
        found = False
        poller, watched = self._watched()
        closed: set[int] = set()
        while True:
            waiting = [proc for proc, is_pipe in map(watched.__getitem__,
                                                     (fd for fd, _ in poller.poll(0)))
                       if is_pipe and proc.started and proc.inflight
                       and proc.worker not in closed]
            if not waiting:
                return found
            for proc in waiting:
                try:
                    message = proc.results.recv()
                except (EOFError, OSError):
                    closed.add(proc.worker)
                    continue
                self._take(proc, message, results, events)
                found = True

    @staticmethod
    def _take(proc: _Proc, message: tuple[list[tuple], TraceColumns, bool],
              results: list[TxResult], events: TraceColumns) -> None:
        """Add a chunk's results from ``proc`` to ``results`` and its events to ``events``;
        the chunk is no longer in flight once its last results came."""
        chunk_results, chunk_events, final = message
        proc.inflight -= final
        results.extend(map(as_result, chunk_results))
        events.extend(chunk_events)

    def _watched(self) -> tuple[Any, dict[int, tuple[_Proc, bool]]]:
        """One poll object over every worker's result pipe and sentinel, and what each
        descriptor is (its worker, and whether it is the result pipe), built once per set of
        workers (``multiprocessing.connection.wait`` and a pipe's ``poll`` build one per
        call, which cost the coordinator some 10–30 µs each time it looked)."""
        if self._watch is None:
            poller, watched = select.poll(), {}
            for proc in self._procs:
                for fd, is_pipe in ((proc.results.fileno(), True),
                                    (proc.process.sentinel, False)):
                    poller.register(fd, select.POLLIN)
                    watched[fd] = (proc, is_pipe)
            self._watch = poller, watched
        return self._watch

    def reset(self) -> None:
        """Kill and replace every worker with work in flight, and any dead or unstarted one."""
        for proc in list(self._procs):
            if proc.inflight or not proc.started or not proc.process.is_alive():
                self._replace(proc)

    def _replace(self, proc: _Proc) -> _Proc:
        """Kill ``proc`` and start a replacement without waiting for it: its hello is read by
        :meth:`ready` before the next run (or skipped by :meth:`collect` during this one), and
        its task queue holds work until it is up, so a timeout or crash is reported without
        paying for the new worker's start-up."""
        self._stop(proc, kill=True)
        self.linked = False
        fresh = self._spawn(proc.worker)
        self._procs[self._procs.index(proc)] = fresh
        self._watch = None
        return fresh

    def close(self) -> None:
        for proc in self._procs:
            self._stop(proc, kill=bool(proc.inflight))
        self._procs = []
        self._watch = None

    def pids(self) -> list[int]:
        """Process ids of the live workers."""
        return [p.process.pid for p in self._procs]

    @staticmethod
    def _stop(proc: _Proc, kill: bool) -> None:
        if kill:
            proc.process.kill()
        else:
            proc.tasks.put(None)
        proc.tasks.close()
        proc.process.join(timeout=2)
        if proc.process.is_alive():
            proc.process.kill()
            proc.process.join()
        proc.results.close()
        proc.process.close()


ORPHAN_CHECK_S = 1.0
"""How often an idle worker checks that its coordinator is still alive."""


def _next_message(tasks: Connection, inbox: Any, lifeline: Lifeline
                  ) -> tuple[str, Any] | None:
    """The next message (``("load", (ids, balances))``, ``("run", chunk)``,
    ``("install", ...)`` or ``("plan", ...)``), or None when told to stop, when the pipe is
    closed or when the coordinator has died (a worker never outlives the process that
    started it, however that process ended). ``inbox`` is a poll object over ``tasks``,
    made once (a pipe's ``poll`` builds a selector on every call)."""
    while True:
        try:
            if inbox.poll(ORPHAN_CHECK_S * 1000):
                return ForkingPickler.loads(tasks.recv_bytes())
        except (EOFError, OSError):
            return None
        if lifeline.gone():
            return None


class Lifeline:
    """How a worker process sees that its coordinator (process ``coordinator``) has died,
    whether the worker was spawned by it or forked by the fork server (:func:`worker_context`),
    and whatever processes inherited the coordinator's descriptors."""

    def __init__(self, tasks: Connection, coordinator: int) -> None:
        self.tasks = tasks
        self.coordinator = coordinator
        self.parent = os.getppid()

    def gone(self) -> bool:
        """Whether the coordinator has died: the worker's parent changed, the coordinator's
        process is gone, or its end of the task pipe is closed."""
        if os.getppid() != self.parent:
            return True
        try:
            os.kill(self.coordinator, 0)
        except (ProcessLookupError, PermissionError):  # gone, or its pid is another user's
            return True
        hangup = select.poll()
        hangup.register(self.tasks.fileno(), 0)  # POLLHUP is always reported
        try:
            return any(events & select.POLLHUP for _, events in hangup.poll(0))
        finally:
            hangup.unregister(self.tasks.fileno())


def _encode(chunk: Chunk, done: list[TxResult], events: list[tuple], final: bool = True,
            rows: list[Row] | None = None) -> bytes:
    """A chunk's results, pickled as plain tuples (they pickle in C; named tuples go through
    Python on both sides), its events (plain tuples of :class:`~aethel.trace.Event`'s
    fields) as columns (with ``rows``, logged by a worker that installs), and whether the
    chunk is done (a worker that installs reports its transactions as they end)."""
    index = {tx.id: i for i, tx, _ in chunk}
    try:
        columns = TraceColumns.exact_block(events, index)
        if columns is None:
            columns = TraceColumns.from_events(map(Event._make, events), index)
        if rows:
            columns.extend_rows(rows)
        return ForkingPickler.dumps(([tuple(r) for r in done], columns, final))
    except BaseException:
        sendable, kept = _sendable(chunk, done, [Event._make(e) for e in events])
        columns = TraceColumns.from_events(kept, index)
        if rows:
            columns.extend_rows(rows)
        return ForkingPickler.dumps((sendable, columns, final))


def _sendable(chunk: Chunk, done: list[TxResult], events: list[Event]
              ) -> tuple[list[tuple], list[Event]]:
    """What :func:`_encode` sends when something does not pickle: each transaction that left
    something unpicklable in its result or events fails instead, keeping only its START
    event, so that the worker lives on."""
    sendable: list[tuple] = []
    kept: list[Event] = []
    for (_, tx, _), result in zip(chunk, done, strict=True):
        own = [e for e in events if e.txn == tx.id]
        try:
            ForkingPickler.dumps((tuple(result), [tuple(e) for e in own]))
        except BaseException as exc:
            result = result._replace(ok=False, writes={},
                                     reason=f"result cannot be sent: {describe_exception(exc)}")
            own = [e for e in own if e.kind == START]
        sendable.append(tuple(result))
        kept.extend(own)
    return sendable, kept


OWNER_DECIDES = (signal.SIGINT, signal.SIGTERM)
"""Signals a worker process ignores: sent to the whole process group (a terminal's Ctrl-C,
a CI runner's SIGTERM), what they mean is for the process that owns the pool to decide. A
worker exits when its owner closes the pool, kills it, or dies."""


_NO_NEW_WORKERS = threading.Event()


def refuse_new_workers() -> None:
    """From now on no pool of this process starts a worker process: for a process that is
    ending, since a child started now could find the semaphores it is handed unlinked."""
    _NO_NEW_WORKERS.set()


@contextmanager
def signals_held() -> Iterator[None]:
    """Block :data:`OWNER_DECIDES` in the calling thread while processes are started within:
    a child inherits them blocked, so a signal to the group that arrives while the child is
    still importing stays pending, instead of killing it half-way with a traceback, until
    the child calls :func:`leave_signals_to_owner`. The caller gets them once the block ends."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, OWNER_DECIDES)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def leave_signals_to_owner() -> None:
    """In a child started within :func:`signals_held`: ignore :data:`OWNER_DECIDES` (what was
    pending is dropped), then unblock them."""
    for signum in OWNER_DECIDES:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, OWNER_DECIDES)


PEER_POLL_S = 0.0003
"""How long a worker of a planned run that waits for another worker's message polls for it,
yielding the CPU between polls, before it blocks: waking from a blocked read takes some
30–40 µs more, on every wait of a narrow DAG."""


class _Peers:
    """A worker process's links to the other workers of its pool, for planned batches: a
    pipe from each of them (``inboxes``) and to each of them (``outboxes``, by worker)."""

    def __init__(self, inboxes: list[Connection], outboxes: dict[int, Connection],
                 lifeline: Lifeline) -> None:
        self.outboxes = outboxes
        self.lifeline = lifeline
        self.run = -1
        self.waiting: deque[tuple[int, Installed]] = deque()
        self._arrivals = select.poll()  # one poll object: a Connection's poll() builds one
        self._by_fd = {conn.fileno(): conn for conn in inboxes}
        """The pipes from the other workers still open, by descriptor."""
        for fd in self._by_fd:
            self._arrivals.register(fd, select.POLLIN)

    def receive(self, block: bool) -> tuple[int, Installed] | None:
        """The next message of this run: (a rank that ended, the accounts it may write as
        they are after it; see :func:`run_planned`). Unless ``block``, only one that has
        arrived, else None. Exits the process if the coordinator has died."""
        if not self.waiting:
            self._drain()
        if block and not self.waiting:
            until = time.perf_counter() + PEER_POLL_S
            while not self.waiting and time.perf_counter() < until:
                os.sched_yield()
                self._drain()
        while block and not self.waiting:
            ready = wait(list(self._by_fd.values()), ORPHAN_CHECK_S) if self._by_fd else \
                time.sleep(ORPHAN_CHECK_S)
            if not ready and self.lifeline.gone():
                raise SystemExit(0)
            for conn in ready or ():
                self._read(conn)
        return self.waiting.popleft() if self.waiting else None

    def send(self, worker: int, rank: int, after: Installed) -> None:
        """Tell ``worker`` that ``rank`` ended, and what it left. What has arrived is read
        first, so that two workers never both block sending into full pipes."""
        self._drain()
        self.outboxes[worker].send_bytes(ForkingPickler.dumps((self.run, rank, after)))

    def _drain(self) -> None:
        """Read every message that has arrived."""
        while arrived := self._arrivals.poll(0):
            for fd, _ in arrived:
                if fd in self._by_fd:
                    self._read(self._by_fd[fd])

    def _read(self, conn: Connection) -> None:
        try:
            run, rank, after = ForkingPickler.loads(conn.recv_bytes())
        except (EOFError, OSError):
            fd = conn.fileno()  # that worker is gone: the coordinator stops the run
            self._arrivals.unregister(fd)
            del self._by_fd[fd]
            return
        if run == self.run:
            self.waiting.append((rank, after))


def _process_main(tasks: Connection, results: Connection, worker: int, coordinator: int,
                  links: tuple[list[Connection], dict[int, Connection]] | None = None,
                  environment: Mapping[str, str] | None = None) -> None:
    """A worker process of the process ``coordinator``: ``environment`` is the coordinator's
    when it started the worker (a forked worker would otherwise have the fork server's, as
    it was when that started)."""
    leave_signals_to_owner()
    if environment is not None and environment != os.environ:
        os.environ.clear()
        os.environ.update(environment)
    pid, lifeline = os.getpid(), Lifeline(tasks, coordinator)
    peers = None if links is None else _Peers(*links, lifeline)
    results.send(None)
    batch: list[Transaction | None] = []
    ids: list[str] = []
    initial: dict[str, tuple[int, str]] = {}
    rank: dict[str, int] = {}
    run = -1
    local: Installed = {}
    inbox = select.poll()
    inbox.register(tasks.fileno(), select.POLLIN)
    while (message := _next_message(tasks, inbox, lifeline)) is not None:
        what, body = message
        if what == "load":
            new_ids, balances = body
            if new_ids is not None:
                ids, batch, rank = new_ids, [None] * len(new_ids), {}
            if balances is not None:
                initial = {a: (b, INIT) for a, b in balances.items()}
            continue
        if what == "plan":
            assert peers is not None, "a planned batch went to a worker without links"
            for i, tx in body[2]:
                batch[i] = tx
            _stream_planned(body[0], Part(*body[1]), batch, worker, pid, results, peers)
            continue
        if what == "install":
            if body[0] != run:
                run, local = body[0], {}
            if not rank:
                rank = {tx_id: i for i, tx_id in enumerate(ids)}
            members = _whole(body[1], batch, initial)
            _stream_installing(members, worker, pid, results, local, rank, set(body[2]),
                               set(body[3]))
            continue
        chunk = _whole(body, batch, initial)
        events: list[tuple] = []
        done = run_chunk(chunk, worker, pid, events.append, None, True)
        results.send_bytes(_encode(chunk, done, events))


def _whole(sent: Chunk, batch: list[Transaction | None],
           initial: Mapping[str, tuple[int, str]]) -> Chunk:
    """A chunk as the coordinator sent it (:meth:`ProcessPool._shrink`), whole: each
    transaction given by its rank taken from ``batch``, where each one sent is kept at its
    rank, and each root's snapshot from the ``initial`` balances (see
    :meth:`ProcessPool.prepare`)."""
    whole = []
    size = len(batch)
    for i, tx, snap in sent:
        if tx is None:
            tx = batch[i]
        elif i < size:
            batch[i] = tx
        whole.append((i, tx, {a: initial[a] for a in tx.accounts} if snap is None else snap))
    return whole


REPORT_S = 0.05
"""A worker process that installs what it runs sends the results of the transactions that
ended so far at least this often while the rest runs (and all of them at the end), so that
the coordinator installs them, and the trace shows them, as the run goes; more often
would take CPU from the workers."""
AWAITED_REPORT_S = 0.002
"""How soon it sends them when one that another worker's transaction awaits has ended."""


def _stream_installing(members: Chunk, worker: int, pid: int, results: Connection,
                       local: Installed, rank: Mapping[str, int], awaited: Set[int],
                       ahead: Set[int]) -> None:
    """Run ``members`` (:func:`run_installing`), sending their results and events as they
    come: once an ``awaited`` one has ended, as the first transaction after it ends at
    least :data:`AWAITED_REPORT_S` after the last sending; otherwise every
    :data:`REPORT_S`; and the rest at the end."""
    events: list[tuple] = []
    rows: list[Row] = []
    sent = [0, 0, 0, time.monotonic(), REPORT_S]  # results, events, rows sent; when; wait

    def report(done: list[TxResult]) -> None:
        if done[-1].index in awaited:
            sent[4] = AWAITED_REPORT_S
        now = time.monotonic()
        if len(done) < len(members) and now - sent[3] >= sent[4]:
            results.send_bytes(_encode(members[sent[0]:len(done)], done[sent[0]:],
                                       events[sent[1]:], False, rows[sent[2]:]))
            sent[:] = [len(done), len(events), len(rows), now, REPORT_S]

    done = run_installing(members, worker, pid, events.append, rows.append, local, rank,
                          report, None, ahead, True)
    results.send_bytes(_encode(members[sent[0]:], done[sent[0]:], events[sent[1]:], True,
                               rows[sent[2]:]))


def _stream_planned(run: int, part: Part, batch: list[Any], worker: int, pid: int,
                    results: Connection, peers: _Peers) -> None:
    """Run a worker's part of a planned batch (:func:`run_planned`), sending its results
    and events to the coordinator every :data:`REPORT_S` and at the end."""
    peers.run = run
    events: list[tuple] = []
    rows: list[Row] = []
    sent = [0, 0, 0, time.monotonic()]  # results, events, rows sent; when

    def ran(done: list[TxResult]) -> Chunk:
        return [(r.index, batch[r.index], None) for r in done]

    def report(done: list[TxResult]) -> None:
        now = time.monotonic()
        if len(done) < len(part.ranks) and now - sent[3] >= REPORT_S:
            results.send_bytes(_encode(ran(done[sent[0]:]), done[sent[0]:], events[sent[1]:],
                                       False, rows[sent[2]:]))
            sent[:] = [len(done), len(events), len(rows), now]

    done = run_planned(part, batch, worker, pid, events.append, rows.append, peers.receive,
                       peers.send, report, True)
    results.send_bytes(_encode(ran(done[sent[0]:]), done[sent[0]:], events[sent[1]:], True,
                               rows[sent[2]:]))


def make_pool(backend: str, workers: int) -> Pool:
    """The pool for a backend name."""
    factories: dict[str, Callable[[], Any]] = {
        "serial": InlinePool,
        "thread": lambda: ThreadPool(workers),
        "process": lambda: ProcessPool(workers),
    }
    return factories[backend]()
