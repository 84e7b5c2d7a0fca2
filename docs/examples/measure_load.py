"""Load test: a large independent-mode batch through analysis, the process backend and
every checker, with wall time per stage and peak RSS.

    python docs/examples/measure_load.py [--transactions 1000000] [--accounts 100000]
                                         [--workers 2] [--seed 1]

Each transaction is one transfer between two accounts drawn uniformly, so the batch has
long dependency chains through shared accounts as well as wide independent sets.
"""

from __future__ import annotations

import argparse
import random
import time

from aethel import Batch, ParallelExecutor, Transaction, Transfer, dependency_graph
from harness.bench.monitor import ResourceMonitor
from harness.checks import Observed, check_all, derive_facts, serial_oracle


def make_batch(transactions: int, accounts: int, seed: int) -> Batch:
    rng = random.Random(seed)
    names = [f"a{i}" for i in range(accounts)]
    return Batch(dict.fromkeys(names, 1_000),
                 [Transaction(f"t{i}", (Transfer(rng.choice(names), rng.choice(names),
                                                 rng.randint(1, 50)),))
                  for i in range(transactions)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    stages: dict[str, float] = {}
    with ParallelExecutor("process", args.workers) as executor:
        with ResourceMonitor(pids=executor.pool.pids(), interval=0.5) as monitor:
            t = time.perf_counter()
            batch = make_batch(args.transactions, args.accounts, args.seed)
            stages["generate"] = time.perf_counter() - t
            t = time.perf_counter()
            graph = dependency_graph(batch)
            stages["analysis"] = time.perf_counter() - t
            t = time.perf_counter()
            result = executor.execute(batch, graph)
            stages["execute (process backend)"] = time.perf_counter() - t
            t = time.perf_counter()
            oracle = serial_oracle(batch)
            stages["serial oracle"] = time.perf_counter() - t
            t = time.perf_counter()
            verdicts = check_all(derive_facts(batch, Observed.from_result(result)), oracle)
            stages["check (6 checkers)"] = time.perf_counter() - t
    usage = monitor.usage
    print(f"{args.transactions} transactions over {args.accounts} accounts, "
          f"{graph.number_of_edges()} dependency edges, {len(result.execution_trace)} events, "
          f"{result.counts()}")
    for stage, seconds in stages.items():
        print(f"  {stage:28s} {seconds:8.2f} s")
    print(f"  {'total':28s} {sum(stages.values()):8.2f} s")
    print(f"peak RSS: coordinator {usage.coordinator_rss_mib:.0f} MiB, workers "
          f"{', '.join(f'{r:.0f}' for r in usage.worker_rss_mib)} MiB")
    for verdict in verdicts:
        print(verdict.lines()[0])


if __name__ == "__main__":
    main()
