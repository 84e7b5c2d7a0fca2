"""Facts indexed from the engine's columns judge exactly as facts indexed from events.

An engine result's trace reaches the checkers as its recorder's columns
(:class:`harness.checks.columns.RecordedTrace`); a plain trace is indexed with numpy, and the
checkers' array tests decide that nothing is wrong or hand over to their general paths. Here
every verdict from the columns is compared with the verdict from the same events as a list
(the path of traces from files and other executors), on engine runs and on runs whose
columns were corrupted at random, and the lazily built attributes with the general path's.
"""

from __future__ import annotations

import pickle
import random
from array import array
from collections.abc import Callable

import numpy as np
import pytest

from aethel.executor import ExecutionResult, ParallelExecutor
from aethel.model import ATOMIC, INDEPENDENT, Batch, Transaction
from aethel.operations import Deposit, GuardedWithdraw, Read, Transfer, Withdraw
from aethel.trace import TraceRecorder
from harness.bench.throughput import workload
from harness.checks import Observed, check_all, derive_facts, serial_oracle
from harness.checks.columns import WIDEST, Pairs, RecordedTrace
from harness.checks.facts import CLOCK_SLACK, Facts

ACCOUNTS = {f"a{i}": 100 for i in range(6)}
LAZY = ("events", "ts", "reads", "writes", "read_of", "write_of", "expected")
EAGER = ("first", "has_events", "start", "began", "starts", "end", "ends", "end_kind",
         "reason", "committed", "lifecycle", "boundaries", "versions", "missing_version",
         "retried_reads", "retried_writes", "nreads", "nwrites", "ordered", "relabelled",
         "order", "rank", "clock", "last_install", "unknown", "regressions", "t0",
         "final_state", "failure")


def _batch(rng: random.Random, size: int) -> Batch:
    names = sorted(ACCOUNTS)
    txs = []
    for i in range(size):
        a, b = rng.choice(names), rng.choice(names)
        ops = rng.choice(((Transfer(a, b, rng.randrange(1, 30)),), (Deposit(a, 5),),
                          (Withdraw(a, rng.randrange(1, 150)),), (Read(a),),
                          (Read(a), Deposit(b, 3)), (GuardedWithdraw(a, b, 40, 50),)))
        after = (f"t{rng.randrange(i)}",) if i and rng.random() < 0.1 else ()
        txs.append(Transaction(f"t{i}", ops, after=after))
    mode = ATOMIC if rng.random() < 0.2 else INDEPENDENT
    return Batch(dict(ACCOUNTS), tuple(txs), mode=mode)


def _copy(result: ExecutionResult) -> ExecutionResult:
    return pickle.loads(pickle.dumps(result))


def _corrupt(rng: random.Random, result: ExecutionResult) -> ExecutionResult:
    """A copy of ``result`` with one or two of its recorded columns' rows changed."""
    result = _copy(result)
    cols, names = result.recorder.columns, list(result.recorder.names)
    for _ in range(rng.randrange(1, 3)):
        i = rng.randrange(len(cols))
        change = rng.randrange(9)
        if change == 0 and cols.value[i] is not None:
            cols.value[i] += rng.choice((1, -1, -1000))
        elif change == 8 and cols.value[i] is not None:
            cols.value[i] = rng.choice((float(cols.value[i]), bool(cols.value[i]), 2 ** 64,
                                        str(cols.value[i])))
        elif change == 1 and cols.version[i] is not None:
            cols.version[i] = rng.choice((*names, "init"))
        elif change == 2:
            cols.ts[i] = cols.ts[rng.randrange(len(cols))]
        elif change == 3:
            cols.kind[i] = rng.randrange(5)
        elif change == 4:
            cols.txn[i] = rng.randrange(len(names))
        elif change == 5 and cols.account[i] is not None:
            cols.account[i] = rng.choice([*ACCOUNTS, "elsewhere"])
        elif change == 6:
            cols.ts[i] += rng.choice((1, 10**11, -10**11))
        else:
            cols.version[i] = None
    return result


def _both(batch: Batch, result: ExecutionResult) -> tuple[Facts, Facts]:
    """Facts of ``result`` from its columns and from its events as a list."""
    events = result.recorder.events()  # leaves the result's own events unbuilt
    final = dict(result.final_states)
    outcomes = {t: (o.status, o.reason) for t, o in result.outcomes.items()}
    return (derive_facts(batch, Observed.from_result(result)),
            derive_facts(batch, Observed(events, final, outcomes)))


def _verdicts(facts: Facts) -> list[dict]:
    """Every verdict, in serial order and in any order."""
    oracle = serial_oracle(facts.batch)
    return [v.to_json() for order in ("batch", "any") for v in check_all(facts, oracle, order)]


def _runs(seeds: range, corrupted: int) -> list[tuple[Batch, ExecutionResult]]:
    runs = []
    with ParallelExecutor("thread", 2) as executor:
        for seed in seeds:
            rng = random.Random(seed)
            batch = _batch(rng, rng.randrange(2, 16))
            result = executor.execute(batch)
            runs.append((batch, _copy(result)))
            runs.extend((batch, _corrupt(rng, result)) for _ in range(corrupted))
    return runs


RUNS = _runs(range(40), 3)


@pytest.mark.parametrize("k", range(len(RUNS)))
def test_verdicts_from_columns_are_those_from_events(k: int) -> None:
    batch, result = RUNS[k]
    columns, events = _both(batch, result)
    assert _verdicts(columns) == _verdicts(events)


def test_plain_traces_with_and_without_violations_are_compared() -> None:
    """The runs above reach the array tests both when they hold and when they fail."""
    plain = [f for f in (_both(b, r)[0] for b, r in RUNS) if f.plain is not None]
    assert len(plain) >= 40
    held = {all(v["ok"] for v in _verdicts(f)) for f in plain}
    assert held == {True, False}


@pytest.mark.parametrize("k", [k for k in range(0, len(RUNS), 4)
                               if _both(*RUNS[k])[0].plain is not None])
def test_lazy_attributes_are_those_of_the_general_path(k: int) -> None:
    """On every fourth run whose trace is plain (only those have lazy attributes)."""
    batch, result = RUNS[k]
    columns, events = _both(batch, result)
    for name in (*EAGER, *LAZY):
        assert getattr(columns, name) == getattr(events, name), name
    assert (columns.read_count, columns.write_count) == (len(events.reads), len(events.writes))


def test_a_large_engine_run_is_plain_and_judged_as_from_events() -> None:
    batch = workload(3000, 40, 5)
    with ParallelExecutor("thread", 2) as executor:
        result = executor.execute(batch)
    columns, events = _both(batch, result)
    assert columns.plain is not None and events.plain is None
    assert _verdicts(columns) == _verdicts(events)
    assert all(v["ok"] for v in _verdicts(columns))


def _retimed(result: ExecutionResult, at: Callable[[int, int], int]) -> ExecutionResult:
    """A copy of ``result`` whose recorded timestamps are ``at(ts, transaction rank)``."""
    result = _copy(result)
    cols = result.recorder.columns
    cols.ts[:] = array("q", map(at, cols.ts, cols.txn))
    return result


def test_a_long_run_on_one_clock_is_plain_and_judged_as_from_events() -> None:
    """A run may span more than the slack beyond which the trace could hold evidence that
    its clocks disagree: without such evidence it stays plain."""
    batch = workload(300, 10, 3)
    with ParallelExecutor("serial") as executor:
        result = executor.execute(batch)
    rows = len(result.recorder.columns.ts)
    step = 3 * CLOCK_SLACK // rows  # events evenly apart, in the order they were recorded
    ticks = iter(range(0, rows * step, step))
    columns, events = _both(batch, _retimed(result, lambda ts, _: ts + next(ticks)))
    assert columns.ts[-1] - columns.ts[0] > 2 * CLOCK_SLACK
    assert columns.plain is not None and events.clock == []
    assert _verdicts(columns) == _verdicts(events)


def test_a_run_with_a_long_idle_stretch_is_left_to_the_general_path() -> None:
    """Half the transactions' events a minute later: the stretch with none running is
    evidence of a clock problem, which only the general path reports."""
    batch = workload(300, 10, 3)
    with ParallelExecutor("serial") as executor:
        result = executor.execute(batch)
    late = _retimed(result, lambda ts, r: ts + 60 * 10**9 * (r >= 150))
    columns, events = _both(batch, late)
    assert columns.plain is None and events.clock != []
    assert _verdicts(columns) == _verdicts(events)


@pytest.mark.parametrize("ops", [(Read("a0"),), (Deposit("a1", 3),), (Read("a0"), Read("a1"))])
def test_runs_without_reads_or_without_installs_are_judged_as_from_events(ops: tuple) -> None:
    batch = Batch(dict(ACCOUNTS), tuple(Transaction(f"t{i}", ops) for i in range(3)))
    with ParallelExecutor("thread", 2) as executor:
        result = executor.execute(batch)
    columns, events = _both(batch, result)
    assert columns.plain is not None
    assert _verdicts(columns) == _verdicts(events)


def test_events_built_first_take_the_general_path() -> None:
    """Once the result's events were built (and could have been changed), they are judged."""
    batch, result = RUNS[0]
    result = _copy(result)
    trace = result.execution_trace
    trace[-1] = trace[-1]._replace(ts=trace[-1].ts + 1)
    observed = Observed.from_result(result)
    assert isinstance(observed.events, RecordedTrace)
    assert derive_facts(batch, observed).plain is None
    assert list(observed.events) == trace and len(observed.events) == len(trace)


def test_a_recorder_keeping_objects_takes_the_general_path() -> None:
    batch, result = RUNS[0]
    result = _copy(result)
    recorder = TraceRecorder()
    recorder.extend(result.recorder.events())
    result.recorder = recorder
    facts = derive_facts(batch, Observed.from_result(result))
    assert facts.plain is None and facts.events == recorder.events()


def test_event_lists_and_other_records_still_work() -> None:
    batch, result = RUNS[0]
    events = result.recorder.events()
    assert derive_facts(batch, events).plain is None
    assert _verdicts(derive_facts(batch, events)) == \
        _verdicts(derive_facts(batch, list(events)))


@pytest.mark.parametrize("seed", range(6))
def test_pairs_membership_is_that_of_a_set(seed: int) -> None:
    """Both ways of :meth:`Pairs.member` (by transaction, or by sorted keys for a
    transaction with many pairs) agree with a set of pairs."""
    rng = np.random.default_rng(seed)
    n = 50
    counts = rng.integers(0, 4 if seed % 2 else WIDEST + 4, n)
    t = np.repeat(np.arange(n), counts)
    a = np.concatenate([rng.choice(30, c, replace=False) for c in counts]).astype(np.int64)
    pairs = Pairs(t, a, counts)
    qt, qa = rng.integers(0, n, 400), rng.integers(0, 30, 400)
    found, at = pairs.member(qt, qa)
    expected = {(int(x), int(y)) for x, y in zip(t, a, strict=True)}
    assert found.tolist() == [(int(x), int(y)) in expected for x, y in zip(qt, qa, strict=True)]
    assert np.all(t[at[found]] == qt[found]) and np.all(a[at[found]] == qa[found])
