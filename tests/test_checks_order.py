"""Dependency order on hand-written traces, and the checker's own dependency index."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from aethel.analysis import dependency_graph, serial_order
from aethel.errors import CircularDependencyError
from aethel.executor import ParallelExecutor
from aethel.model import Batch, Transaction
from aethel.operations import Deposit, Read, Transfer, Withdraw
from harness.campaign.strategies import batches
from harness.checks import (
    EQUIVALENCE,
    ISOLATION,
    ORDER,
    Observed,
    check_all,
    check_order,
    derive_facts,
)
from harness.checks.builder import TraceBuilder
from harness.checks.facts import dependencies, serial_indices

ACCOUNTS = {"alice": 100, "bob": 50, "carol": 0}


def run(builder: TraceBuilder, txn: str, *reads: tuple[str, int]) -> TraceBuilder:
    """START, READs, COMMIT (installs do not matter to this checker)."""
    builder.start(txn)
    for account, value in reads:
        builder.read(txn, account, value)
    return builder.commit(txn)


def test_dependants_starting_after_their_predecessors_hold():
    batch = Batch(ACCOUNTS, (Transaction("t1", (Transfer("alice", "bob", 30),)),
                             Transaction("t2", (Read("carol"),)),
                             Transaction("t3", (Transfer("bob", "carol", 10),))))
    trace = TraceBuilder().start("t1").start("t2").commit("t2").commit("t1")
    verdict = check_order(derive_facts(batch, run(trace, "t3").events))
    assert verdict.ok
    assert "for all 2 dependency edges" in verdict.explanation


def test_read_after_write_started_too_early():
    batch = Batch(ACCOUNTS, (Transaction("t1", (Transfer("alice", "bob", 30),)),
                             Transaction("t2", (Transfer("bob", "carol", 10),))))
    trace = TraceBuilder().start("t1").start("t2").commit("t1").commit("t2")
    verdict = check_order(derive_facts(batch, trace.events))
    assert not verdict.ok and verdict.count == 1
    assert verdict.counterexample.txns == ("t1", "t2")
    assert verdict.counterexample.accounts == ("bob",)
    assert verdict.counterexample.message == (
        "t2 started at +1.0 µs, but it depends on t1 (t2 reads bob, which t1 writes) and t1 "
        "finished only at +2.0 µs")


def test_not_judged_when_the_timestamps_are_not_on_one_clock():
    batch = Batch(ACCOUNTS, (Transaction("t1", (Transfer("alice", "bob", 30),)),
                             Transaction("t2", (Transfer("bob", "carol", 10),))))
    trace = run(run(TraceBuilder(), "t1"), "t2").events
    minutes = 180 * 1_000_000_000
    events = [e._replace(ts=e.ts - minutes) if e.txn == "t2" else e for e in trace]
    verdict = check_order(derive_facts(batch, sorted(events, key=lambda e: e.ts)))
    assert verdict.ok and not verdict.applicable
    assert verdict.explanation == (
        "not judged: the timestamps are not on one clock (see isolation: clock problem), so "
        "whether each predecessor ended before its dependant started cannot be told")


def test_write_after_read_started_too_early():
    batch = Batch(ACCOUNTS, (Transaction("t1", (Read("alice"),)),
                             Transaction("t2", (Deposit("alice", 1),))))
    trace = TraceBuilder().start("t1").start("t2").commit("t2").commit("t1")
    verdict = check_order(derive_facts(batch, trace.events))
    assert "t2 writes alice, which t1 reads" in verdict.counterexample.message


def test_explicit_dependency_and_a_predecessor_that_never_finished():
    batch = Batch(ACCOUNTS, (Transaction("t1", (Read("alice"),)),
                             Transaction("t2", (Read("bob"),), after=("t1",))))
    trace = TraceBuilder().start("t1").start("t2").commit("t2")
    verdict = check_order(derive_facts(batch, trace.events))
    assert verdict.counterexample.txns == ("t1", "t2")
    assert "t2 is declared to run after t1) and t1 never finished" in \
        verdict.counterexample.message


@settings(max_examples=60)
@given(batches(max_transactions=10, contention="high", forward_deps=True))
def test_own_dependency_index_and_serial_order_agree_with_the_engine(batch):
    ids = [tx.id for tx in batch.transactions]
    graph = dependency_graph(batch)
    assert {(ids[u], ids[v]) for u, v, _, _ in dependencies(batch)} == set(graph.edges)
    assert [ids[t] for t in serial_indices(batch)] == serial_order(graph)


def test_serial_order_moves_only_for_explicit_dependencies():
    batch = Batch(ACCOUNTS, (Transaction("a", (Read("alice"),), after=("c",)),
                             Transaction("b", (Read("bob"),)),
                             Transaction("c", (Read("carol"),))))
    assert serial_indices(batch) == [1, 2, 0]
    looped = Batch(ACCOUNTS, (Transaction("a", (Read("alice"),), after=("b",)),
                              Transaction("b", (Read("bob"),), after=("a",))))
    with pytest.raises(CircularDependencyError, match="a → b → a|b → a → b"):
        serial_indices(looped)


FORWARD = Batch({"a": 0}, (Transaction("t1", (Withdraw("a", 10),), after=("t2",)),
                           Transaction("t2", (Deposit("a", 10),))))
"""t1 runs after t2, which comes later in the batch: in batch order t1 would fail."""


def test_a_forward_after_moves_the_serial_order_and_the_conflict_edges():
    assert serial_indices(FORWARD) == [1, 0]
    assert {(u, v) for u, v, _, _ in dependencies(FORWARD)} == {(1, 0)}
    looped = Batch(ACCOUNTS, (Transaction("a", (Deposit("alice", 1),), after=("b",)),
                              Transaction("b", (Read("alice"),)),
                              Transaction("c", (Read("bob"),), after=("a",))))
    assert serial_indices(looped) == [1, 0, 2]
    assert {(u, v, kind) for u, v, kind, _ in dependencies(looped)} == {
        (1, 0, "WAR"), (1, 0, "explicit"), (0, 2, "explicit")}


@pytest.mark.parametrize("backend", ["serial", "thread", "process"])
def test_a_correct_execution_of_a_forward_after_passes_every_checker(backend):
    with ParallelExecutor(backend, 1 if backend == "serial" else 2) as executor:
        result = executor.execute(FORWARD)
    verdicts = check_all(derive_facts(FORWARD, Observed.from_result(result)))
    assert all(v.ok for v in verdicts), [v.lines() for v in verdicts if not v.ok]


def test_an_execution_in_plain_batch_order_of_a_forward_after_is_a_violation():
    trace = (TraceBuilder()
             .start("t1").read("t1", "a", 0)
             .abort("t1", "InsufficientFundsError: insufficient funds: a has 0, withdrawal "
                    "needs 10")
             .start("t2").read("t2", "a", 0).write("t2", "a", 10).commit("t2"))
    outcomes = {"t1": ("aborted", "InsufficientFundsError: insufficient funds: a has 0, "
                                  "withdrawal needs 10"), "t2": ("committed", None)}
    verdicts = {v.property: v for v in check_all(derive_facts(FORWARD, trace.events, {"a": 10},
                                                              outcomes))}
    assert not verdicts[ORDER].ok
    assert verdicts[ORDER].counterexample.message == (
        "t1 started at +0.0 µs, but it depends on t2 (t1 reads a, which t2 writes) and t2 "
        "finished only at +6.0 µs")
    assert not verdicts[EQUIVALENCE].ok
    assert verdicts[EQUIVALENCE].anomalies() >= {"final balance", "outcome"}


def test_reads_and_installs_are_judged_in_the_order_moved_by_after():
    trace = (TraceBuilder()
             .start("t2").read("t2", "a", 0).write("t2", "a", 10).commit("t2")
             .start("t1").read("t1", "a", 10, "t2").write("t1", "a", 0, "t2").commit("t1"))
    verdicts = check_all(derive_facts(FORWARD, trace.events))
    assert all(v.ok for v in verdicts), [v.lines() for v in verdicts if not v.ok]
    stale = (TraceBuilder()
             .start("t2").read("t2", "a", 0).write("t2", "a", 10).commit("t2")
             .start("t1").read("t1", "a", 0).write("t1", "a", -10, "t2").commit("t1"))
    isolation = {v.property: v for v in check_all(derive_facts(FORWARD, stale.events))}[ISOLATION]
    assert "stale read" in isolation.anomalies()
