"""The engine's coordinator: the columnar trace, chains handed to one worker, inline runs.

Each run's trace is judged by every checker (``observe``/``judge`` through the harness's
protocol), so an optimisation that bent the trace fails here.
"""

from __future__ import annotations

import io
import os
import pickle
import random

import pytest

from aethel.analysis import dependency_graph
from aethel.executor import Coordinator, ParallelExecutor
from aethel.model import ATOMIC, Batch, Transaction
from aethel.operations import Deposit, Sleep, Spin, Transfer, Withdraw
from aethel.trace import (
    COMMIT,
    READ,
    START,
    WRITE,
    Event,
    TraceColumns,
    TraceRecorder,
    parse_jsonl,
    write_jsonl,
)
from harness.campaign.protocol import execute as observe
from harness.checks import Observed, check_all, derive_facts
from harness.checks.verdict import PASS


def _chain(n: int) -> Batch:
    """``n`` transactions on one account, each depending on the one before (a chain);
    every fourth withdraws more than there is and aborts."""
    return Batch({"a": 0},
                 [Transaction(f"t{i}", (Withdraw("a", 10**6),) if i % 4 == 3 else
                              (Deposit("a", i + 1),)) for i in range(n)])


def _chains(k: int, length: int) -> Batch:
    """``k`` independent chains of ``length`` deposits, interleaved in batch order."""
    return Batch({f"a{c}": 0 for c in range(k)},
                 [Transaction(f"t{c}-{i}", (Deposit(f"a{c}", 1),))
                  for i in range(length) for c in range(k)])


def _mixed(seed: int, n: int = 60) -> Batch:
    """Random transfers, deposits and failing withdrawals over a few accounts."""
    rng = random.Random(seed)
    accounts = {f"a{i}": rng.randint(0, 50) for i in range(6)}
    txs = []
    for i in range(n):
        a, b = rng.sample(sorted(accounts), 2)
        op = rng.choice([Transfer(a, b, rng.randint(1, 30)), Deposit(a, rng.randint(1, 9)),
                         Withdraw(a, rng.randint(1, 80))])
        txs.append(Transaction(f"t{i}", (op,)))
    return Batch(accounts, txs)


def _passes_every_checker(executor: ParallelExecutor, batch: Batch) -> None:
    """Run ``batch`` and judge the run with every checker: each must pass (none may say
    *not judged*)."""
    run = observe(executor, batch, executor.backend, executor.workers)
    verdicts = check_all(derive_facts(batch, Observed.from_result(run)))
    assert [(v.property, v.status) for v in verdicts if v.status != PASS] == [], \
        [v.explanation for v in verdicts if v.status != PASS]


SAMPLE = [
    Event(START, "t1", 10, 0, 7),
    Event(READ, "t1", 11, 0, 7, "a", 5, "init"),
    Event(WRITE, "t1", 20, 0, 3, "a", 6, replaced="init"),
    Event(COMMIT, "t1", 21, 0, 3),
    Event(START, "t2", 22, 1, 8),
    Event("ABORT", "t2", 30, 1, 3, reason="insufficient funds"),
]


def test_columns_give_back_exactly_the_events_recorded_as_objects():
    columns = TraceColumns.from_events(SAMPLE, {"t1": 0, "t2": 1})
    assert columns.events(["t1", "t2"]) == SAMPLE
    by_objects, by_columns, by_rows = TraceRecorder(), TraceRecorder(), TraceRecorder()
    for event in SAMPLE:
        by_objects.record(event)
    by_columns.names = by_rows.names = ["t1", "t2"]
    by_columns.extend_columns(columns)
    by_rows.extend_rows(list(zip(columns.ts, columns.kind, columns.txn, columns.worker,
                                 columns.pid, columns.account, columns.value,
                                 columns.version, [columns.reason.get(i) for i in range(6)],
                                 strict=True)))
    assert by_objects.events() == by_columns.events() == by_rows.events() == SAMPLE


def test_a_recorder_that_overrides_record_receives_the_bulk_events_as_objects():
    seen = []

    class Watching(TraceRecorder):
        def record(self, event: Event) -> None:
            seen.append(event)
            super().record(event)

    recorder = Watching()
    recorder.names = ["t1", "t2"]
    recorder.extend_columns(TraceColumns.from_events(SAMPLE[:2], {"t1": 0}))
    recorder.extend_rows([(40, 3, 1, 1, 3, None, None, None, None)])
    assert recorder.events() == [*SAMPLE[:2], Event(COMMIT, "t2", 40, 1, 3)]
    assert seen == [Event(COMMIT, "t2", 40, 1, 3)]


@pytest.mark.parametrize("backend", ["serial", "thread", "process"])
def test_columnar_trace_round_trips_through_json_lines_and_pickle(backend):
    batch = _mixed(1)
    workers = 1 if backend == "serial" else 2
    with ParallelExecutor(backend, workers) as executor:
        result = executor.execute(batch)
    events = result.execution_trace
    assert [e.ts for e in events] == sorted(e.ts for e in events)
    assert result.recorder.events() == events
    out = io.StringIO()
    write_jsonl(events, out)
    assert parse_jsonl(out.getvalue().splitlines())[1] == events
    assert pickle.loads(pickle.dumps(result)).execution_trace == events


@pytest.mark.parametrize("backend", ["thread", "process"])
@pytest.mark.parametrize("seed", range(4))
def test_runs_pass_every_checker(backend, seed):
    with ParallelExecutor(backend, 2) as executor:
        _passes_every_checker(executor, _mixed(seed))
        _passes_every_checker(executor, _mixed(seed).with_mode(ATOMIC))


def test_a_chain_on_processes_crosses_the_coordinator_once():
    batch = _chain(40)
    with ParallelExecutor("process", 2) as executor:
        result = executor.execute(batch)
        _passes_every_checker(executor, batch)
    with ParallelExecutor("serial") as serial:
        expected = serial.execute(batch)
    assert result.final_states == expected.final_states
    assert result.outcomes == expected.outcomes
    assert result.metrics["chained_transactions"] == 40
    assert result.metrics["round_trips"] < 40
    reads = {e.txn: e.version for e in result.execution_trace if e.kind == READ}
    last_writer = [f"t{i - 1}" if (i - 1) % 4 != 3 else f"t{i - 2}" for i in range(1, 40)]
    assert [reads[f"t{i}"] for i in range(1, 40)] == last_writer


def test_parallel_chains_each_go_to_a_worker_whole():
    batch = _chains(4, 20)
    with ParallelExecutor("process", 2) as executor:
        result = executor.execute(batch)
        _passes_every_checker(executor, batch)
    assert result.final_states == {f"a{c}": 20 for c in range(4)}
    assert result.metrics["chained_transactions"] == 80
    assert result.metrics["round_trips"] < 80


def _hot(seed: int, n: int = 120) -> Batch:
    """Transfers among three hot accounts and a few cold ones, each spinning a little:
    long, tangled dependency paths, on which transactions go to a worker ahead of their
    predecessors; every fifth withdraws more than there is and aborts (it writes nothing,
    so the last writer of its account is an earlier one)."""
    rng = random.Random(seed)
    hot, cold = ["h0", "h1", "h2"], [f"c{i}" for i in range(6)]
    accounts = {a: 100 for a in hot + cold}
    txs = []
    for i in range(n):
        a = rng.choice(hot) if rng.random() < 0.8 else rng.choice(cold)
        b = rng.choice([x for x in hot + cold if x != a])
        op = Withdraw(a, 10**6) if i % 5 == 4 else Transfer(a, b, rng.randint(1, 30))
        txs.append(Transaction(f"t{i}", (op, Spin(us=rng.randint(50, 400)))))
    return Batch(accounts, txs)


class _NeverInline(Coordinator):
    INLINE_MIN_TRANSACTIONS = 2**62


class _PoolOnly(ParallelExecutor):
    coordinator_class = _NeverInline


def test_the_coordinator_installs_a_wide_batch_and_workers_install_chains():
    """Installing on a worker costs it more than the coordinator pays to install: the
    workers do it only where it can save round trips. A wide batch saves none (every
    COMMIT is the coordinator's); a chain saves one per link (every COMMIT is a
    worker's)."""
    wide = Batch({f"a{i}": 0 for i in range(200)},
                 [Transaction(f"t{i}", (Deposit(f"a{i}", 1), Spin(us=300))) for i in range(200)])
    chains = Batch({"a": 0, "b": 0}, [Transaction(f"t{i}", (Deposit("ab"[i % 2], 1),
                                                          Spin(us=300))) for i in range(200)])
    with _PoolOnly("process", 2) as executor:
        results = {name: executor.execute(batch) for name, batch in
                   (("wide", wide), ("chains", chains))}
        _passes_every_checker(executor, wide)
        workers = set(executor.pool.pids())
    committers = {name: {e.pid for e in result.execution_trace if e.kind == COMMIT}
                  for name, result in results.items()}
    assert committers["wide"] == {os.getpid()}
    assert committers["chains"] and committers["chains"] <= workers
    assert results["wide"].final_states == dict.fromkeys(wide.accounts, 1)
    assert results["chains"].final_states == {"a": 100, "b": 100}


@pytest.mark.parametrize("seed", range(6))
def test_transactions_handed_ahead_of_their_predecessors_equal_serial(seed):
    batch = _hot(seed)
    with _PoolOnly("process", 2) as executor:
        result = executor.execute(batch)
        _passes_every_checker(executor, batch)
        again = executor.execute(batch)  # the workers forget the previous run's installs
    with ParallelExecutor("serial") as serial:
        expected = serial.execute(batch)
    assert result.metrics["ahead_transactions"] > 0
    for run in (result, again):
        assert run.final_states == expected.final_states
        assert run.outcomes == expected.outcomes


def test_a_worker_forgets_what_it_installed_in_another_run():
    first = Batch({"a": 0}, [Transaction(f"t{i}", (Deposit("a", 1),)) for i in range(30)])
    second = Batch({"a": 1000}, first.transactions)
    with _PoolOnly("process", 2) as executor:
        assert executor.execute(first).final_states == {"a": 30}
        assert executor.execute(second).final_states == {"a": 1030}


def test_two_heavy_chains_ready_together_go_to_different_workers():
    """Two chains of heavy transactions among many light ready ones: a message holds about
    a chunk's worth of estimated work, so each chain ends its message and the second one
    goes to the other worker."""
    heavy = [Transaction(f"t{c}-{i}", (Deposit(f"a{c}", 1), Spin(us=2000)))
             for i in range(5) for c in range(2)]
    batch = Batch({"a0": 0, "a1": 0, **{f"x{i}": 0 for i in range(200)}},
                  [*heavy, *(Transaction(f"x{i}", (Deposit(f"x{i}", 1),)) for i in range(200))])
    with _PoolOnly("process", 2) as executor:
        result = executor.execute(batch, dependency_graph(batch))
    workers = {c: {e.worker for e in result.execution_trace if e.txn.startswith(f"t{c}-")}
               for c in range(2)}
    assert len(workers[0]) == len(workers[1]) == 1 and workers[0] != workers[1]


def test_no_chains_in_an_atomic_batch():
    batch = _chain(10).with_mode(ATOMIC)
    with ParallelExecutor("process", 2) as executor:
        result = executor.execute(batch)
        _passes_every_checker(executor, batch)
    assert result.metrics["chained_transactions"] == 0


class _NoInlineFloor(Coordinator):
    INLINE_MIN_TRANSACTIONS = 1


class _EagerInline(ParallelExecutor):
    coordinator_class = _NoInlineFloor


@pytest.mark.parametrize("backend", ["thread", "process"])
def test_a_chain_of_tiny_transactions_runs_inline_and_says_so(backend):
    batch = _chain(30)
    with _EagerInline(backend, 2) as executor:
        result = executor.execute(batch)
        _passes_every_checker(executor, batch)
    assert result.metrics["inline"] == 1.0 and result.metrics["inline_transactions"] == 30
    assert {e.worker for e in result.execution_trace} == {0}


@pytest.mark.parametrize("work, inline", [(Sleep(ms=5), 0.0), (Spin(us=2000), 1.0)],
                         ids=["releases-the-gil", "holds-the-gil"])
def test_wide_work_runs_inline_on_threads_only_if_it_holds_the_gil(work, inline):
    batch = Batch({"a0": 0, "a1": 0},
                  [Transaction(f"t{i}", (Deposit(f"a{i % 2}", 1), work)) for i in range(2)])
    with _EagerInline("thread", 2) as executor:
        result = executor.execute(batch, dependency_graph(batch))
    assert result.metrics["inline"] == inline and result.final_states == {"a0": 1, "a1": 1}
