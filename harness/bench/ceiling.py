"""The machine ceiling: W independent processes doing a batch's work with no communication.

Each process gets a share of the transactions (longest-first onto the least-loaded
share, by estimated cost) with the snapshots they would see at the start, loads them,
and waits. The clock starts when the parent says go and stops when the last process
reports done; nothing else crosses a process boundary in between. The transactions run
through the same :func:`~aethel.context.run_transaction` the executor's workers use, so
the ceiling does the same work minus scheduling, installs and communication. It ignores
dependencies: it is the machine's limit, not the batch's (that is the critical-path bound).
"""

from __future__ import annotations

import heapq
import multiprocessing as mp
import os
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from aethel.backends import leave_signals_to_owner, signals_held
from aethel.context import discard, run_transaction
from aethel.model import Batch, Transaction
from aethel.trace import INIT

Share = list[tuple[Transaction, dict[str, tuple[int, str]]]]


@dataclass
class CeilingRun:
    """One ceiling measurement: wall time, and per process its busy wall and CPU time."""

    workers: int
    wall_s: float
    busy_s: list[float]
    cpu_s: list[float]


def _ceiling_main(conn: Connection) -> None:
    """Load a share, wait for go, run it, report (wall, CPU) seconds; exit on None, or
    quietly when the parent is gone (its end of the pipe closes)."""
    leave_signals_to_owner()
    pid = os.getpid()
    try:
        conn.send("ready")
        while (share := conn.recv()) is not None:
            conn.send("loaded")
            conn.recv()
            wall, cpu = time.perf_counter(), time.process_time()
            for index, (tx, snapshot) in enumerate(share):
                run_transaction(index, tx, snapshot, 0, pid, discard, plain=True)
            conn.send((time.perf_counter() - wall, time.process_time() - cpu))
    except (EOFError, OSError):
        return


def split(batch: Batch, parts: int) -> list[Share]:
    """The batch's transactions in ``parts`` shares of near-equal estimated cost."""
    shares: list[Share] = [[] for _ in range(parts)]
    loads = [(0.0, n) for n in range(parts)]
    for tx in sorted(batch.transactions, key=lambda t: -t.cost_us()):
        load, n = heapq.heappop(loads)
        shares[n].append((tx, {a: (batch.accounts[a], INIT) for a in tx.accounts}))
        heapq.heappush(loads, (load + tx.cost_us(), n))
    return shares


class CeilingPool:
    """``processes`` spawned processes, started once; :meth:`measure` uses the first W."""

    def __init__(self, processes: int) -> None:
        ctx = mp.get_context("spawn")
        self._procs: list[tuple[Any, Connection]] = []
        for n in range(processes):
            parent, child = ctx.Pipe()
            process = ctx.Process(target=_ceiling_main, args=(child,), daemon=True,
                                  name=f"aethel-ceiling-{n}")
            with signals_held():
                process.start()
            child.close()
            self._procs.append((process, parent))
        for _, conn in self._procs:
            conn.recv()

    def __enter__(self) -> CeilingPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def size(self) -> int:
        return len(self._procs)

    def pids(self, workers: int | None = None) -> list[int]:
        """Process ids of the first ``workers`` processes (all by default)."""
        return [p.pid for p, _ in self._procs[:workers]]

    def measure(self, batch: Batch, workers: int) -> CeilingRun:
        """Run ``batch``'s work on ``workers`` processes; the wall time from go to done."""
        if not 1 <= workers <= len(self._procs):
            raise ValueError(f"workers must be in 1..{len(self._procs)}, got {workers}")
        conns = [conn for _, conn in self._procs[:workers]]
        for conn, share in zip(conns, split(batch, workers), strict=True):
            conn.send(share)
        for conn in conns:
            conn.recv()
        started = time.perf_counter()
        for conn in conns:
            conn.send("go")
        done = [conn.recv() for conn in conns]
        wall = time.perf_counter() - started
        return CeilingRun(workers, wall, [d[0] for d in done], [d[1] for d in done])

    def close(self) -> None:
        """Stop the processes."""
        for process, conn in self._procs:
            try:
                conn.send(None)
            except OSError:
                pass
            process.join(timeout=2)
            if process.is_alive():
                process.kill()
                process.join()
            conn.close()
        self._procs = []
