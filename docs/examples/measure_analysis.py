"""Dependency-analysis time for large batches (graph, generations, critical path), for the
compact graph the engine uses (``dependency_dag``) and the networkx form beside it.

    python docs/examples/measure_analysis.py [SIZES...]   # default: 10000 100000

Each batch has one transfer per transaction over size/10 accounts, so most transactions
conflict with a few others.
"""

from __future__ import annotations

import sys
import time

from aethel import (
    Batch,
    Transaction,
    Transfer,
    critical_path,
    dependency_dag,
    dependency_graph,
    independent_sets,
)


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [10_000, 100_000]
    for n in sizes:
        accounts = max(2, n // 10)
        batch = Batch({f"x{i}": 100 for i in range(accounts)},
                      [Transaction(f"t{i}", (Transfer(f"x{(i * 7) % accounts}",
                                                      f"x{(i * 13 + 1) % accounts}", 1),))
                       for i in range(n)])
        for name, build in (("compact", dependency_dag), ("networkx", dependency_graph)):
            started = time.perf_counter()
            graph = build(batch)
            built = time.perf_counter()
            levels = independent_sets(graph)
            path, _ = critical_path(graph)
            done = time.perf_counter()
            print(f"{n} transactions, {name}: graph {built - started:.3f} s "
                  f"({graph.number_of_edges()} edges), generations + critical path "
                  f"{done - built:.3f} s ({len(levels)} levels, critical path {len(path)})")

if __name__ == "__main__":
    main()
