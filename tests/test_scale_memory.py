"""Memory at scale: the coordinator keeps per-transaction bookkeeping compact (results in
arrays, the trace in columns only) and the dependency analysis's fast paths build exactly
the graph its general path builds."""

from __future__ import annotations

import random
import tracemalloc

from aethel.analysis import dependency_dag
from aethel.context import TxResult
from aethel.executor import ParallelExecutor
from aethel.memory import ResultLog
from aethel.model import Batch, Transaction
from aethel.operations import Deposit, Read, Transfer, Withdraw
from aethel.trace import COMMIT, READ, START, WRITE, Event, TraceColumns, TraceRecorder
from harness.bench.throughput import workload

PEAK_BYTES_PER_TRANSACTION = 1000
"""The most the coordinator may allocate at its peak per transaction of the throughput
workload, trace included (it took ~1,400 bytes when every START and READ stayed an object
and every result kept its writes; it takes ~700)."""


def _peak_bytes_per_transaction(n: int) -> float:
    batch = workload(n, max(10, n // 10), 1)
    with ParallelExecutor("serial", 1) as executor:
        executor.execute(workload(1, 2, 1))
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            result = executor.execute(batch)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert len(result.recorder) == len(result.execution_trace)
    return (peak - base) / n


def test_the_coordinators_peak_memory_per_transaction_is_bounded_and_flat():
    small, large = _peak_bytes_per_transaction(5_000), _peak_bytes_per_transaction(20_000)
    assert large <= PEAK_BYTES_PER_TRANSACTION, large
    assert large <= 1.3 * small, (small, large)


def test_a_run_keeps_no_event_objects_and_its_trace_is_exact():
    batch = workload(3_000, 300, 2)
    with ParallelExecutor("serial", 1) as executor:
        result = executor.execute(batch)
    recorder = result.recorder
    assert recorder._events == []
    events = result.execution_trace
    assert [e.ts for e in events] == sorted(e.ts for e in events)
    kinds = {e.txn: [] for e in events}
    for e in events:
        kinds[e.txn].append(e.kind)
    assert all(k[0] == START and k[-1] in (COMMIT, "ABORT") for k in kinds.values())
    assert len(kinds) == len(batch)
    reads = [e for e in events if e.kind == READ]
    assert reads and all(e.version is not None and e.replaced is None for e in reads)


SAMPLE = [
    Event(START, "t1", 10, 0, 7),
    Event(READ, "t1", 11, 0, 7, "a", 5, "init"),
    Event(WRITE, "t1", 20, 0, 3, "a", 6, replaced="init"),
    Event(COMMIT, "t1", 21, 0, 3),
    Event("ABORT", "t2", 30, 1, 3, reason="insufficient funds"),
]


def test_objects_join_the_columns_only_when_the_columns_give_them_back_exactly():
    index = {"t1": 0, "t2": 1}
    block = TraceColumns.exact_block(SAMPLE, index)
    assert block is not None and block.events(["t1", "t2"]) == SAMPLE
    odd = [Event(START, "t1", 1, 0, 7, version="t0"),  # a version on a START
           Event(START, "t9", 2, 0, 7),  # a transaction outside the index
           Event(START, "t1", 3, 2**70, 7)]  # a worker beyond 64 bits
    for event in odd:
        assert TraceColumns.exact_block([SAMPLE[0], event], index) is None
        recorder = TraceRecorder()
        recorder.names, recorder.index = ["t1", "t2"], index
        recorder.record(event)
        recorder.extend_rows([(40, 3, 1, 1, 3, None, None, None, None)])
        assert recorder.events() == sorted([event, Event(COMMIT, "t2", 40, 1, 3)],
                                           key=lambda e: e.ts)
        assert len(recorder) == 2


def test_the_result_log_gives_back_each_result_without_its_writes():
    log = ResultLog(3)
    log[2] = TxResult(2, False, "insufficient funds", {"a": 1}, 1500, 1)
    log[0] = TxResult(0, True, None, {"a": 2}, 2000, 0)
    assert list(log) == [TxResult(0, True, None, {}, 2000, 0), None,
                         TxResult(2, False, "insufficient funds", {}, 1500, 1)]
    assert log.completed() == 2 and len(log) == 3
    assert list(log.durations_us()) == [2.0, 0.0, 1.5]
    assert log.reasons == {2: "insufficient funds"}


def _general(batch: Batch) -> Batch:
    """The same batch, each transaction's writes an equal set of its own (so that the
    analysis takes its general path)."""
    for tx in batch.transactions:
        object.__setattr__(tx, "writes", frozenset(tx.writes))
    return batch


def _mixed(seed: int) -> Batch:
    rng = random.Random(seed)
    names = [f"a{i}" for i in range(rng.randint(1, 5))]
    txs = []
    for i in range(60):
        a, b = rng.choice(names), rng.choice(names)
        op = rng.choice([Transfer(a, b, 1), Deposit(a, 1), Withdraw(a, 1), Read(a)])
        after = (f"t{rng.randrange(i)}",) if i and rng.random() < 0.1 else ()
        txs.append(Transaction(f"t{i}", (op,), after=after))
    return Batch(dict.fromkeys(names, 5), txs)


def test_the_fast_paths_build_exactly_the_graph_of_the_general_path():
    for seed in range(40):
        fast = dependency_dag(_mixed(seed))
        general = dependency_dag(_general(_mixed(seed)))
        for name in ("order", "pstart", "preds", "rstart", "rsrc", "rkind", "racct"):
            assert list(getattr(fast, name)) == list(getattr(general, name)), (seed, name)
