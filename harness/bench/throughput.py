"""Checker throughput: ``python -m harness.bench.throughput [--transactions N] [--backend B]``.

Runs a seeded batch of transfers, deposits, withdrawals and reads on the engine, then times
indexing the trace and every checker on it, and prints transactions per second of CPU time
(one core; other processes' load does not count, wall time is shown beside it) — for each
step, for the checkers alone (the trace-based judgement, comparable to Elle) and with the
serial oracle (which re-executes the batch). ``--profile N`` prints each step's N most
expensive functions (cProfile, by own time). The trace is indexed from the recorder's
columns, as for any engine result; ``--events`` indexes it as a list of events instead (the
path of trace files and other executors).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
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
    check_values,
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


@dataclass(frozen=True)
class Step:
    """One timed step: its name, CPU and wall seconds, whether its verdict holds, and its
    profile (empty unless asked for)."""

    name: str
    cpu_s: float
    wall_s: float
    holds: bool
    profile: str = ""


def _timed(name: str, fn: Callable[[], Any], profile: int = 0) -> tuple[Any, Step]:
    profiler = cProfile.Profile() if profile else None
    wall, cpu = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    value = fn()
    if profiler is not None:
        profiler.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    text = ""
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(profile)
        text = out.getvalue()
    return value, Step(name, cpu, wall, getattr(value, "ok", True), text)


ORACLE = "serial oracle (re-execution)"


def measure(batch: Batch, observed: Observed, profile: int = 0) -> list[Step]:
    """Each step, timed: indexing the trace, every checker, and the serial oracle."""
    with paused_gc():
        return _measure(batch, observed, profile)


def _measure(batch: Batch, observed: Observed, profile: int) -> list[Step]:
    facts, index = _timed("index the trace", lambda: derive_facts(batch, observed), profile)
    oracle, oracle_step = _timed(ORACLE, lambda: serial_oracle(batch), profile)
    steps = [index]
    for name, check in (("dependency order", lambda: check_order(facts)),
                        ("isolation", lambda: check_isolation(facts)),
                        ("strict serializability", lambda: check_serializability(facts)),
                        ("conservation", lambda: check_conservation(facts)),
                        ("atomicity", lambda: check_atomicity(facts, oracle)),
                        ("serial equivalence (compare)", lambda: check_equivalence(facts,
                                                                                   oracle)),
                        ("linearizability (values)", lambda: check_values(facts))):
        steps.append(_timed(name, check, profile)[1])
    steps.append(oracle_step)
    return steps


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
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="print each step's N most expensive functions (one more run)")
    parser.add_argument("--events", action="store_true",
                        help="index the trace as a list of events, not the recorder's columns")
    args = parser.parse_args()
    batch = workload(args.transactions, args.accounts, args.seed)
    workers = 1 if args.backend == "serial" else args.workers
    with ParallelExecutor(args.backend, workers) as executor:
        result, run = _timed("run", lambda: executor.execute(batch))
    observed = Observed.from_result(result)
    if args.events:
        observed = replace(observed, events=result.execution_trace)
    print(f"{len(batch)} transactions, {len(observed.events)} events; executed on "
          f"{args.backend} ×{result.worker_count} in {run.wall_s:.2f} s")
    best: dict[str, Step] = {}
    for _ in range(args.repeat):
        gc.collect()
        for step in measure(batch, observed):
            if step.name not in best or step.cpu_s < best[step.name].cpu_s:
                best[step.name] = step
    n = len(batch)
    print(f"best of {args.repeat} (CPU time; wall time beside it):")
    for step in best.values():
        print(f"  {step.name:<32} {step.cpu_s:7.3f} s {n / step.cpu_s:>12,.0f} txn/s "
              f"(wall {step.wall_s:6.3f} s)  {'holds' if step.holds else 'VIOLATED'}")
    checkers = sum(s.cpu_s for s in best.values() if s.name != ORACLE)
    total = sum(s.cpu_s for s in best.values())
    print(f"checkers on the trace: {checkers:.2f} s = {n / checkers:,.0f} txn/s")
    print(f"with the serial oracle: {total:.2f} s = {n / total:,.0f} txn/s")
    if args.profile:
        gc.collect()
        for step in measure(batch, observed, args.profile):
            print(f"\n== {step.name}: {step.cpu_s:.3f} s under the profiler\n{step.profile}")


if __name__ == "__main__":
    main()
