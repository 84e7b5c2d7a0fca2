"""The checkers' fast paths judge exactly as the plain definitions they shortcut.

Each fast path (the bulk screens of isolation, the edge-free acyclicity test of strict
serializability, the inlined dependency walk of dependency order) is compared with the
definition it replaces on engine traces and on traces corrupted at random (values, versions,
timestamps, dropped and moved events), and the checkers' CPU cost is held to a wide bound.
"""

from __future__ import annotations

import random
from operator import gt

import pytest

from aethel.executor import ParallelExecutor
from aethel.model import Batch, Transaction
from aethel.operations import Deposit, Read, Transfer, Withdraw
from aethel.trace import Event
from harness.bench.throughput import measure, workload
from harness.checks import Observed, check_order, derive_facts
from harness.checks.anomalies import DEPENDENCY, EARLY_START
from harness.checks.facts import Facts, dependencies, describe_dependency
from harness.checks.serializability import _forward_in_commit_order, edges
from harness.checks.verdict import ORDER, Collector, Edge, Verdict, plural

ACCOUNTS = {f"a{i}": 100 for i in range(6)}


def _batch(rng: random.Random, size: int) -> Batch:
    names = sorted(ACCOUNTS)
    txs = []
    for i in range(size):
        a, b = rng.choice(names), rng.choice(names)
        op = rng.choice((Transfer(a, b, rng.randrange(1, 30)), Deposit(a, 5),
                         Withdraw(a, 5), Read(a)))
        after = (f"t{rng.randrange(i)}",) if i and rng.random() < 0.1 else ()
        txs.append(Transaction(f"t{i}", (op,), after=after))
    return Batch(dict(ACCOUNTS), tuple(txs))


def _corrupt(rng: random.Random, events: list[Event], ids: list[str]) -> list[Event]:
    """A few random corruptions: a value, a version, a replaced version, a timestamp, a
    dropped event; the result is put back in time order."""
    out = list(events)
    for _ in range(rng.randrange(1, 4)):
        i = rng.randrange(len(out))
        e = out[i]
        kind = rng.randrange(5)
        if kind == 0 and e.value is not None:
            out[i] = e._replace(value=e.value + 1)
        elif kind == 1 and e.kind == "READ":
            out[i] = e._replace(version=rng.choice([*ids, "init"]))
        elif kind == 2 and e.kind == "WRITE":
            out[i] = e._replace(replaced=rng.choice([*ids, "init"]))
        elif kind == 3:
            out[i] = e._replace(ts=out[rng.randrange(len(out))].ts)
        else:
            del out[i]
    return sorted(out, key=lambda e: e.ts)


def _cases(seeds: range) -> list[tuple[Batch, Facts]]:
    """Facts of engine runs and of corrupted copies of them."""
    cases = []
    for seed in seeds:
        rng = random.Random(seed)
        batch = _batch(rng, rng.randrange(3, 14))
        with ParallelExecutor("thread", 2) as executor:
            result = executor.execute(batch)
        events = list(result.execution_trace)
        ids = [tx.id for tx in batch.transactions]
        cases.append((batch, derive_facts(batch, Observed.from_result(result))))
        for _ in range(4):
            cases.append((batch, derive_facts(batch, _corrupt(rng, events, ids))))
    return cases


CASES = _cases(range(30))


def _order_by_definition(facts: Facts) -> Verdict:
    """Dependency order straight from :func:`dependencies` (what check_order inlines)."""
    c = Collector(ORDER)
    if not facts.one_clock:
        return check_order(facts)
    start, end, ids = facts.began, facts.end, facts.ids
    count = 0
    marked = [-1] * len(ids)
    for u, v, kind, account in dependencies(facts.batch, facts.order):
        if marked[u] == v:
            continue
        marked[u] = v
        count += 1
        sv, eu = start[v], end[u]
        if sv < 0 or 0 <= eu < sv:
            continue
        why = describe_dependency(kind, account, ids[u], ids[v])
        when = f"{ids[u]} never finished" if eu < 0 else \
            f"{ids[u]} finished only at {facts.at(eu)}"
        c.add(EARLY_START, f"{ids[v]} started at {facts.at(sv)}, but it depends on {ids[u]} "
              f"({why}) and {when}", txns=(ids[u], ids[v]),
              accounts=(account,) if account else (),
              edges=(Edge(ids[u], ids[v], DEPENDENCY, account),))
    started = sum(s >= 0 for s in start)
    return c.verdict(f"for all {plural(count, 'dependency edge')}, the predecessor ended "
                     f"before the dependant started ({plural(started, 'transaction')} started)")


@pytest.mark.parametrize("k", range(len(CASES)))
def test_dependency_order_is_the_definition(k: int) -> None:
    _, facts = CASES[k]
    assert check_order(facts).to_json() == _order_by_definition(facts).to_json()


@pytest.mark.parametrize("k", range(len(CASES)))
def test_commit_order_test_is_the_edge_definition(k: int) -> None:
    _, facts = CASES[k]
    us, vs, _ = edges(facts, realtime=False)
    end = facts.end
    assert _forward_in_commit_order(facts) == \
        (not any(map(gt, map(end.__getitem__, us), map(end.__getitem__, vs))))


def test_corruptions_reach_every_fast_path_exit() -> None:
    """The cases above exercise both outcomes of the screens they test."""
    forward = {_forward_in_commit_order(facts) for _, facts in CASES}
    early = {check_order(facts).ok for _, facts in CASES}
    assert forward == {True, False} and early == {True, False}


def test_checkers_cost_far_less_than_a_millisecond_of_cpu_per_transaction() -> None:
    """A bound wide enough for a loaded machine: the checkers' CPU time (one core, oracle
    excluded) over 5,000 transactions stays under 1 ms per transaction."""
    batch = workload(5000, 200, 3)
    with ParallelExecutor("thread", 2) as executor:
        observed = Observed.from_result(executor.execute(batch))
    steps = measure(batch, observed)
    assert all(step.holds for step in steps)
    cpu = sum(step.cpu_s for step in steps if step.name != "serial oracle (re-execution)")
    assert cpu < 5.0
