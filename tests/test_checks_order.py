"""Dependency order on hand-written traces, and the checker's own dependency index."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from aethel.analysis import dependency_graph
from aethel.errors import CircularDependencyError
from aethel.model import Batch, Transaction
from aethel.operations import Deposit, Read, Transfer
from harness.checks import analyse, check_order
from harness.checks.builder import TraceBuilder
from harness.checks.facts import dependencies, serial_order
from harness.strategies import batches

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
    verdict = check_order(analyse(batch, run(trace, "t3").events))
    assert verdict.ok
    assert "for all 2 dependency edges" in verdict.explanation


def test_read_after_write_started_too_early():
    batch = Batch(ACCOUNTS, (Transaction("t1", (Transfer("alice", "bob", 30),)),
                             Transaction("t2", (Transfer("bob", "carol", 10),))))
    trace = TraceBuilder().start("t1").start("t2").commit("t1").commit("t2")
    verdict = check_order(analyse(batch, trace.events))
    assert not verdict.ok and verdict.count == 1
    assert verdict.counterexample.txns == ("t1", "t2")
    assert verdict.counterexample.accounts == ("bob",)
    assert verdict.counterexample.message == (
        "t2 started at +1.0 µs, but it depends on t1 (t2 reads bob, which t1 writes) and t1 "
        "finished only at +2.0 µs")


def test_write_after_read_started_too_early():
    batch = Batch(ACCOUNTS, (Transaction("t1", (Read("alice"),)),
                             Transaction("t2", (Deposit("alice", 1),))))
    trace = TraceBuilder().start("t1").start("t2").commit("t2").commit("t1")
    verdict = check_order(analyse(batch, trace.events))
    assert "t2 writes alice, which t1 reads" in verdict.counterexample.message


def test_explicit_dependency_and_a_predecessor_that_never_finished():
    batch = Batch(ACCOUNTS, (Transaction("t1", (Read("alice"),)),
                             Transaction("t2", (Read("bob"),), after=("t1",))))
    trace = TraceBuilder().start("t1").start("t2").commit("t2")
    verdict = check_order(analyse(batch, trace.events))
    assert verdict.counterexample.txns == ("t1", "t2")
    assert "t2 is declared to run after t1) and t1 never finished" in \
        verdict.counterexample.message


@settings(max_examples=60)
@given(batches(max_transactions=10, contention="high"))
def test_own_dependency_index_agrees_with_the_engine(batch):
    ours = {(batch.transactions[u].id, batch.transactions[v].id)
            for u, v, _, _ in dependencies(batch)}
    assert ours == set(dependency_graph(batch).edges)


def test_serial_order_moves_only_for_explicit_dependencies():
    batch = Batch(ACCOUNTS, (Transaction("a", (Read("alice"),), after=("c",)),
                             Transaction("b", (Read("bob"),)),
                             Transaction("c", (Read("carol"),))))
    assert serial_order(batch) == [1, 2, 0]
    looped = Batch(ACCOUNTS, (Transaction("a", (Read("alice"),), after=("b",)),
                              Transaction("b", (Read("bob"),), after=("a",))))
    with pytest.raises(CircularDependencyError, match="a → b → a|b → a → b"):
        serial_order(looped)
