"""Checker throughput: ``python -m harness.bench.throughput [--transactions N] [--backend B]``.

Runs a seeded batch of transfers, deposits, withdrawals and reads on the engine, then times
indexing the trace and every checker on it, and prints transactions per second — for the
checkers alone (the trace-based judgement, comparable to Elle) and with the serial oracle
(which re-executes the batch).
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Callable
from typing import Any

from aethel.executor import ParallelExecutor
from aethel.memory import paused_gc
from aethel.model import Batch, Transaction
from aethel.operations import Deposit, Read, Transfer, Withdraw
from harness.checks import (
    Observed,
    check_atomicity,
    check_conservation,
    check_equivalence,
    check_isolation,
    check_order,
    check_serializability,
    derive_facts,
    serial_oracle,
)


def workload(transactions: int, accounts: int, seed: int) -> Batch:
    """A reproducible batch: 60% transfers, 15% deposits, 15% withdrawals, 10% reads."""
    rng = random.Random(seed)
    names = [f"acct{i}" for i in range(accounts)]
    txs = []
    for i in range(transactions):
        a, b = rng.choice(names), rng.choice(names)
        roll = rng.random()
        if roll < 0.6:
            op: Any = Transfer(a, b, rng.randrange(1, 50))
        elif roll < 0.75:
            op = Deposit(a, rng.randrange(1, 50))
        elif roll < 0.9:
            op = Withdraw(a, rng.randrange(1, 50))
        else:
            op = Read(a)
        txs.append(Transaction(f"t{i}", (op,)))
    return Batch({name: 1000 for name in names}, tuple(txs))


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def measure(batch: Batch, observed: Observed) -> list[tuple[str, float, bool]]:
    """Seconds for each step: (name, seconds, holds)."""
    with paused_gc():
        return _measure(batch, observed)


def _measure(batch: Batch, observed: Observed) -> list[tuple[str, float, bool]]:
    facts, index_s = _timed(lambda: derive_facts(batch, observed))
    oracle, oracle_s = _timed(lambda: serial_oracle(batch))
    rows = [("index the trace", index_s, True)]
    for name, check in (("dependency order", lambda: check_order(facts)),
                        ("isolation", lambda: check_isolation(facts)),
                        ("strict serializability", lambda: check_serializability(facts)),
                        ("conservation", lambda: check_conservation(facts)),
                        ("atomicity", lambda: check_atomicity(facts, oracle)),
                        ("serial equivalence (compare)", lambda: check_equivalence(facts,
                                                                                   oracle))):
        verdict, seconds = _timed(check)
        rows.append((name, seconds, verdict.ok))
    rows.append(("serial oracle (re-execution)", oracle_s, True))
    return rows


def main() -> None:
    """Run the measurement and print a table."""
    parser = argparse.ArgumentParser(prog="python -m harness.bench.throughput",
                                     description=__doc__)
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--backend", choices=("serial", "thread", "process"), default="thread")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="report the best of N timings")
    args = parser.parse_args()
    batch = workload(args.transactions, args.accounts, args.seed)
    workers = 1 if args.backend == "serial" else args.workers
    with ParallelExecutor(args.backend, workers) as executor:
        result, run_s = _timed(lambda: executor.execute(batch))
    observed = Observed.from_result(result)
    print(f"{len(batch)} transactions, {len(observed.events)} events; executed on "
          f"{args.backend} ×{result.worker_count} in {run_s:.2f} s")
    best: dict[str, tuple[float, bool]] = {}
    for _ in range(args.repeat):
        gc.collect()
        for name, seconds, holds in measure(batch, observed):
            best[name] = (min(seconds, best.get(name, (seconds, holds))[0]), holds)
    rows = [(name, seconds, holds) for name, (seconds, holds) in best.items()]
    print(f"best of {args.repeat}:")
    for name, seconds, holds in rows:
        print(f"  {name:<32} {seconds:7.3f} s  {'holds' if holds else 'VIOLATED'}")
    checkers = sum(s for name, s, _ in rows if not name.startswith("serial oracle"))
    total = sum(s for _, s, _ in rows)
    n = len(batch)
    print(f"checkers on the trace: {checkers:.2f} s = {n / checkers:,.0f} txn/s")
    print(f"with the serial oracle: {total:.2f} s = {n / total:,.0f} txn/s")


if __name__ == "__main__":
    main()
