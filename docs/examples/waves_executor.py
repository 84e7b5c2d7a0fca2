"""A third-party executor, verified through the executor protocol without touching Aethel.

    PYTHONPATH=docs/examples aethel verify --executor waves_executor:WavesExecutor

It runs a batch wave by wave on a thread pool: a wave is every transaction whose
dependencies all ran in earlier waves. It keeps its own state and records its own trace
in the JSON form of docs/trace-format.md; from Aethel it borrows only the dependency
analysis (the graph and the serial order) and the operation semantics (``run_transaction``).
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from aethel.analysis import dependency_graph, independent_sets, serial_order
from aethel.context import run_transaction


class WavesExecutor:
    """Factory signature of the protocol: ``WavesExecutor(backend=..., workers=...)``."""

    def __init__(self, backend: str = "thread", workers: int = 2) -> None:
        self.workers = workers
        self.pool = ThreadPoolExecutor(workers)

    def close(self) -> None:
        self.pool.shutdown()

    def execute(self, batch):
        graph = dependency_graph(batch)
        order = serial_order(graph)
        rank = {tx_id: r for r, tx_id in enumerate(order)}
        by_id = {tx.id: tx for tx in batch.transactions}
        state = {a: (v, "init") for a, v in batch.accounts.items()}
        trace, lock = [], threading.Lock()
        pid, failed, results = os.getpid(), None, {}

        def record(event):
            with lock:
                trace.append(event.to_json())

        def run(tx_id, snapshot):
            worker = threading.get_ident() % 1000
            return run_transaction(rank[tx_id], by_id[tx_id], snapshot, worker, pid, record)

        for wave in independent_sets(graph):
            if failed is not None:
                wave = [t for t in wave if rank[t] < failed]
            futures = {t: self.pool.submit(run, t, {a: state[a] for a in by_id[t].accounts})
                       for t in wave}
            for tx_id, future in futures.items():
                result = results[tx_id] = future.result()
                stamp = dict(txn=tx_id, ts=time.monotonic_ns(), worker=result.worker, pid=pid)
                if not result.ok:
                    trace.append(dict(event="ABORT", reason=result.reason, **stamp))
                    if batch.mode == "atomic" and (failed is None or rank[tx_id] < failed):
                        failed = rank[tx_id]
                    continue
                for account, value in result.writes.items():
                    trace.append(dict(event="WRITE", account=account, value=value,
                                      replaced=state[account][1], **stamp))
                    state[account] = (value, tx_id)
                trace.append(dict(event="COMMIT", **stamp))
        if failed is not None:
            outcomes = {t: "rolled_back" if r < failed else "skipped" for t, r in rank.items()}
            failing = order[failed]
            outcomes[failing] = {"status": "aborted", "reason": results[failing].reason}
            final = dict(batch.accounts)
        else:
            outcomes = {t: {"status": "committed"} if r.ok else
                        {"status": "aborted", "reason": r.reason} for t, r in results.items()}
            final = {a: v for a, (v, _) in state.items()}
        trace.sort(key=lambda e: e["ts"])
        return {"final_states": final, "outcomes": outcomes, "execution_trace": trace}
