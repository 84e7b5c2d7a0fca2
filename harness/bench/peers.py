"""The peers: what a user would write instead of the executor, run on the same batches.

* **plain loop**: each transaction's CPU work, one transaction after another, in this
  process. Every speedup of the peer comparison is a ratio to it.
* **bare pool**: a :class:`concurrent.futures.ProcessPoolExecutor` of W processes and one
  chunked ``map`` per topological generation of the batch's dependency DAG.
* **Dask** (when the ``dask`` extra is installed): the DAG's edges as a Dask task graph, run
  by Dask's processes scheduler (``dask.multiprocessing.get``) on W processes, unfused.

All three do only the transactions' CPU work exactly as the workloads define it (their
cost-only operations: ``Spin``, ``Hash``, ``Sleep``), and keep no state and write no trace:
they are a lower bound on the cost of scheduling, not rivals with equal duties. Pools are
started and warmed before the clock runs, as the executor's are; the DAG, its generations
and the Dask graph are built beforehand, as the executor's dependency graph is.
"""

from __future__ import annotations

import importlib.util
import multiprocessing as mp
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import psutil

from aethel.analysis import independent_sets
from aethel.backends import leave_signals_to_owner, signals_held
from aethel.model import Batch
from aethel.operations import Operation
from harness.process import command_line

BARE_POOL, DASK = "bare-pool", "dask"
"""The names of the two parallel peers."""
CHUNKS_PER_WORKER = 4
"""A generation's ``map`` is cut into about this many chunks per worker (the heuristic of
:meth:`multiprocessing.pool.Pool.map`): few enough to amortize a round trip, enough to even
out unequal transactions."""


@dataclass(frozen=True, slots=True)
class Work:
    """One transaction's CPU work: its operations that touch no account, in order."""

    ops: tuple[Operation, ...]


def run_work(work: Work) -> None:
    """Do one transaction's CPU work (no state: cost-only operations ignore the context)."""
    for op in work.ops:
        op.apply(None, None)  # type: ignore[arg-type]


def run_after(work: Work, *done: object) -> None:
    """A Dask task: ``work``, once the tasks it depends on (``done``) have run."""
    run_work(work)


def chunksize(items: int, workers: int) -> int:
    """The ``map`` chunk size for ``items`` transactions on ``workers`` processes."""
    return max(1, -(-items // (CHUNKS_PER_WORKER * workers)))


def dask_missing() -> str | None:
    """Why the Dask peer cannot run, or None when ``dask`` is importable."""
    if importlib.util.find_spec("dask") is None:
        return "dask is not installed (pip install 'aethel-synchrony[dask]')"
    return None


@dataclass(frozen=True)
class PeerPlan:
    """A batch prepared for the peers: each transaction's work, the DAG's generations (each
    a list of works) and the Dask graph with the same edges."""

    works: list[Work]
    generations: list[list[Work]]
    dask_graph: dict[str, tuple[Any, ...]]
    sinks: list[str]

    @classmethod
    def of(cls, batch: Batch, graph: Any) -> PeerPlan:
        """The plan of ``batch`` whose dependency graph (over transaction ids) is ``graph``."""
        works = {tx.id: Work(tuple(op for op in tx.ops if not op.reads and not op.writes))
                 for tx in batch.transactions}
        dask_graph = {tx_id: (run_after, work, *graph.predecessors(tx_id))
                      for tx_id, work in works.items()}
        sinks = [tx_id for tx_id in works if not graph.out_degree(tx_id)]
        return cls(list(works.values()),
                   [[works[tx_id] for tx_id in level] for level in independent_sets(graph)],
                   dask_graph, sinks)


def plain_loop(plan: PeerPlan) -> None:
    """Every transaction's work, in batch order, in this process."""
    for work in plan.works:
        run_work(work)


class PeerPool:
    """``workers`` spawned processes behind a :class:`ProcessPoolExecutor`, started and
    warmed once; the bare pool and Dask take turns on them. Like the engine's workers they
    leave signals to the benchmark, which stops them."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        before = {p.pid for p in psutil.Process().children()}
        self._pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                                         initializer=leave_signals_to_owner)
        with signals_held():  # the pool starts its processes on these first submits
            list(self._pool.map(time.sleep, [0.05] * workers))
        self._pids = [p.pid for p in psutil.Process().children()
                      if p.pid not in before and "spawn_main" in command_line(p)]
        self._dask: Callable[..., Any] | None = None
        if dask_missing() is None:
            from dask.multiprocessing import get

            self._dask = get
            get({"warm": (run_after, Work(()))}, ["warm"], pool=self._pool)

    def __enter__(self) -> PeerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pids(self) -> list[int]:
        """The pool's worker process ids."""
        return list(self._pids)

    def bare(self, plan: PeerPlan) -> None:
        """One chunked ``map`` per generation, each waited for before the next."""
        pool, workers = self._pool, self.workers
        for works in plan.generations:
            for _ in pool.map(run_work, works, chunksize=chunksize(len(works), workers)):
                pass

    def dask(self, plan: PeerPlan) -> None:
        """The Dask graph on Dask's processes scheduler over this pool's W processes, as
        given: Dask's linear-chain fusion is off, because it nests a long chain (dag-skewed's
        500 links) into one task too deep to pickle."""
        if self._dask is None:
            raise RuntimeError(dask_missing())
        self._dask(plan.dask_graph, plan.sinks, num_workers=self.workers, pool=self._pool,
                   optimize_graph=False)

    def close(self) -> None:
        """Stop the processes."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def available_peers() -> Sequence[str]:
    """The parallel peers this installation can run."""
    return (BARE_POOL,) if dask_missing() else (BARE_POOL, DASK)
