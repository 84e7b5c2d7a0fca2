"""Coordinator CPU per transaction on the serial, thread and process backends.

    python docs/examples/measure_coordinator.py [--transactions 4000] [--repeat 5]
                                                [--shape independent|chain] [--workers 2]
                                                [--no-inline | --planned]

Runs a batch of trivial transactions (a deposit each: to its own account for
``independent``, all to one account for ``chain``) and reports the CPU the coordinator
spent per transaction, median and range over ``--repeat`` runs. The executor may run such a
batch inline (parallelism cannot pay for it); ``--no-inline`` measures the pool's path, and
``--planned`` a planned run on processes (each worker handed its part of a static plan in
one message; the executor chooses it for narrow DAGs). Each run is of an equal copy of
the batch that the executor has not run (a user's batch is new to it: the process backend
ships it to its workers within the run); the copy's dependency graph (the compact
:class:`~aethel.analysis.DependencyDag` that ``execute`` builds when given none) is built,
and the previous run's result freed, outside the measurement. CPU time, not wall time, so
that a loaded machine does not change the figure much:

* thread: the coordinator thread's CPU (``time.thread_time``); worker threads excluded;
* process: the coordinator process's CPU (``time.process_time``: its thread plus the
  outbox threads that write what a worker's task pipe had no sure room for); the thread's
  own share is shown too;
* serial, and any run the executor chose to run inline (``inline`` in its metrics): the
  coordinator thread runs the transactions too, so the CPU of the same transactions run by
  a bare loop of :func:`aethel.context.run_transaction` is subtracted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from aethel import Batch, ParallelExecutor, Transaction
from aethel.analysis import plan_workers
from aethel.context import discard, run_transaction
from aethel.executor import Coordinator
from aethel.operations import Deposit
from harness.bench.measure import unseen


def trivial_batch(n: int, shape: str) -> Batch:
    """``n`` one-deposit transactions: on ``n`` accounts, or all on one (a chain)."""
    if shape == "chain":
        return Batch({"a": 0}, [Transaction(f"t{i}", (Deposit("a", 1),)) for i in range(n)])
    return Batch({f"a{i}": 0 for i in range(n)},
                 [Transaction(f"t{i}", (Deposit(f"a{i}", 1),)) for i in range(n)])


def bare_loop_cpu(batch: Batch) -> float:
    """Thread CPU seconds of running every transaction once, bookkeeping-free."""
    pid = os.getpid()
    state = {a: (v, "init") for a, v in batch.accounts.items()}
    begin = time.thread_time()
    for r, tx in enumerate(batch.transactions):
        result = run_transaction(r, tx, {a: state[a] for a in tx.accounts}, 0, pid, discard)
        for account, value in result.writes.items():
            state[account] = (value, tx.id)
    return time.thread_time() - begin


class _PoolOnly(Coordinator):
    INLINE_MIN_TRANSACTIONS = 2**62


class _PoolOnlyExecutor(ParallelExecutor):
    """An executor that never runs a batch inline."""

    coordinator_class = _PoolOnly


class _Planned(Coordinator):
    def path(self) -> str:
        coordinator, overhead, message = self.PLAN_COST_US
        self.where, _ = plan_workers(self.graph, self.executor.workers, message, overhead)
        return "planned"


class _PlannedExecutor(ParallelExecutor):
    """An executor that plans every batch on processes."""

    coordinator_class = _Planned


def measure(backend: str, workers: int, batch: Batch, repeat: int,
            executor_class: type[ParallelExecutor] = ParallelExecutor
            ) -> tuple[list[float], list[float], dict[str, float]]:
    """Per run: coordinator CPU µs per transaction, the thread's own share, last metrics."""
    n = len(batch)
    totals: list[float] = []
    threads: list[float] = []
    metrics: dict[str, float] = {}
    clock: Callable[[], float] = time.process_time if backend == "process" else time.thread_time
    with executor_class(backend, workers) as executor:
        executor.execute(*unseen(batch))  # warm up: workers started, modules imported
        result = None
        for _ in range(repeat):
            bare = bare_loop_cpu(batch)
            result = None  # the previous run's result is freed outside the measurement
            copy, graph = unseen(batch)
            begin, begin_thread = clock(), time.thread_time()
            result = executor.execute(copy, graph)
            total, own = clock() - begin, time.thread_time() - begin_thread
            assert result.committed and len(result.outcomes) == n
            if backend != "serial" and not result.metrics.get("inline"):
                bare = 0.0
            totals.append((total - bare) / n * 1e6)
            threads.append((own - bare) / n * 1e6)
            metrics = result.metrics
    return totals, threads, metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shape", choices=("independent", "chain"), default="independent")
    parser.add_argument("--backends", default="serial,thread,process")
    path = parser.add_mutually_exclusive_group()
    path.add_argument("--no-inline", action="store_true",
                      help="never let the executor run the batch inline")
    path.add_argument("--planned", action="store_true",
                      help="plan the batch on processes (other backends: as --no-inline)")
    args = parser.parse_args()
    batch = trivial_batch(args.transactions, args.shape)
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[:3]
    print(f"{args.transactions} trivial transactions ({args.shape}), load {' '.join(load)}")
    for backend in args.backends.split(","):
        workers = 1 if backend == "serial" else args.workers
        chosen = (_PlannedExecutor if args.planned and backend == "process" else
                  _PoolOnlyExecutor if args.no_inline or args.planned else ParallelExecutor)
        totals, threads, metrics = measure(backend, workers, batch, args.repeat, chosen)
        extra = "".join(f", {metrics[key]:.0f} {what}" for key, what in (
            ("inline_transactions", "run inline"), ("chained_transactions", "in chains"),
            ("round_trips", "round trips")) if key in metrics)
        if metrics.get("planned"):
            extra += ", planned"
        print(f"  {backend:8} coordinator CPU {statistics.median(totals):6.1f} µs/txn "
              f"(range {min(totals):.1f}–{max(totals):.1f}; its thread alone "
              f"{statistics.median(threads):.1f}){extra}")


if __name__ == "__main__":
    main()
