"""Strict serializability names one cycle per class found, the shortest of each, and never
the same cycle twice (hand-written traces)."""

from __future__ import annotations

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from aethel.model import Batch, Transaction
from aethel.operations import Deposit, Read
from harness.checks import check_serializability, derive_facts
from harness.checks.anomalies import (
    G2,
    G_SINGLE,
    G_SINGLE_REALTIME,
    RT,
    RW,
    WR,
    WW,
    cycle_anomaly,
)
from harness.checks.builder import TraceBuilder
from harness.checks.serializability import _pairs, _shortest_per_class
from harness.checks.verdict import Edge, Verdict, Violation

KINDS = (WW, WR, RW, RT)

BATCH = Batch({"a": 100, "x": 10, "y": 10}, (
    Transaction("t1", (Deposit("a", 5),)),
    Transaction("t2", (Deposit("a", 7),)),
    Transaction("t3", (Read("y"), Deposit("x", 1))),
    Transaction("t4", (Read("x"), Deposit("y", 1)))))
"""t1 and t2 deposit into a; t3 and t4 each read the account the other writes."""


def lost_update(trace: TraceBuilder) -> TraceBuilder:
    """t1 and t2 both read a@init; t2's install replaces a@t1: t1's deposit is lost."""
    return (trace.start("t1").read("t1", "a", 100).start("t2", 1).read("t2", "a", 100, worker=1)
            .write("t1", "a", 105).commit("t1").write("t2", "a", 107, "t1", 1).commit("t2", 1))


def write_skew(trace: TraceBuilder) -> TraceBuilder:
    """t3 and t4 on one snapshot: each misses the other's write."""
    return (trace.start("t3", 2).start("t4", 3)
            .read("t3", "y", 10, worker=2).read("t3", "x", 10, worker=2)
            .read("t4", "x", 10, worker=3).read("t4", "y", 10, worker=3)
            .write("t3", "x", 11, worker=2).write("t4", "y", 11, worker=3)
            .commit("t3", 2).commit("t4", 3))


def by_class(verdict: Verdict) -> dict[str, Violation]:
    assert not verdict.ok and verdict.witness is None
    assert verdict.count == len(verdict.violations)
    found = {v.anomaly: v for v in verdict.violations}
    assert len(found) == verdict.count, "a class named twice"
    return found


def test_a_write_skew_is_not_hidden_by_a_lost_update_in_the_same_run():
    events = write_skew(lost_update(TraceBuilder())).events
    verdict = check_serializability(derive_facts(BATCH, events))
    found = by_class(verdict)
    assert set(found) == {G_SINGLE, G2}
    assert verdict.counterexample.anomaly == G_SINGLE  # the most specific class first
    assert verdict.explanation.startswith("2 violations (1 G-single, 1 G2); first: t1 → t2 → t1")
    single, skew = found[G_SINGLE], found[G2]
    assert single.edges == (Edge("t1", "t2", "ww", "a"), Edge("t2", "t1", "rw", "a"))
    assert "a lost update on a" in single.message
    assert skew.txns == ("t3", "t4") and set(skew.accounts) == {"x", "y"}
    assert skew.edges == (Edge("t3", "t4", "rw", "y"), Edge("t4", "t3", "rw", "x"))
    assert [d.split(":")[0] for d in skew.details] == ["t3 → t4 (rw)", "t4 → t3 (rw)"]


def test_each_class_alone_is_named_once():
    for trace, anomaly in ((lost_update(TraceBuilder()), G_SINGLE),
                           (write_skew(TraceBuilder()), G2)):
        verdict = check_serializability(derive_facts(BATCH, trace.events))
        assert set(by_class(verdict)) == {anomaly} and verdict.count == 1


def test_a_write_skew_sharing_a_transaction_with_a_lost_update_is_found():
    """t2 loses t1's update of a, and t2 and t3 each miss the other's write to b or c."""
    batch = Batch({"a": 100, "b": 10, "c": 10}, (
        Transaction("t1", (Deposit("a", 5),)),
        Transaction("t2", (Deposit("a", 7), Read("c"), Deposit("b", 1))),
        Transaction("t3", (Read("b"), Deposit("c", 1)))))
    events = (TraceBuilder()
              .start("t1").start("t2", 1).start("t3", 2)
              .read("t1", "a", 100).read("t2", "a", 100, worker=1)
              .read("t2", "c", 10, worker=1).read("t2", "b", 10, worker=1)
              .read("t3", "b", 10, worker=2).read("t3", "c", 10, worker=2)
              .write("t1", "a", 105).commit("t1")
              .write("t2", "a", 107, "t1", 1).write("t2", "b", 11, worker=1)
              .write("t3", "c", 11, worker=2)
              .commit("t2", 1).commit("t3", 2)).events
    found = by_class(check_serializability(derive_facts(batch, events)))
    assert set(found) == {G_SINGLE, G2}
    assert set(found[G_SINGLE].txns) == {"t1", "t2"}
    assert set(found[G2].txns) == {"t2", "t3"}
    assert {e.kind for e in found[G2].edges} == {"rw"}


def test_two_lost_updates_joined_at_one_transaction_are_no_write_skew():
    """t2 loses t1's update of a and t3 loses t2's update of b: two G-single cycles through
    t2, whose walk through both has two rw edges but repeats t2, so it is no G2."""
    batch = Batch({"a": 100, "b": 10}, (
        Transaction("t1", (Deposit("a", 5),)),
        Transaction("t2", (Deposit("a", 7), Deposit("b", 1))),
        Transaction("t3", (Deposit("b", 2),))))
    events = (TraceBuilder()
              .start("t1").start("t2", 1).start("t3", 2)
              .read("t1", "a", 100).read("t2", "a", 100, worker=1)
              .read("t2", "b", 10, worker=1).read("t3", "b", 10, worker=2)
              .write("t1", "a", 105).commit("t1")
              .write("t2", "a", 107, "t1", 1).write("t2", "b", 11, worker=1).commit("t2", 1)
              .write("t3", "b", 12, "t2", 2).commit("t3", 2)).events
    verdict = check_serializability(derive_facts(batch, events))
    assert set(by_class(verdict)) == {G_SINGLE} and verdict.count == 1


def test_a_data_cycle_with_a_real_time_edge_is_not_named_real_time_too():
    """t2 starts after t1 committed, reads a@init and overwrites a@t1: t1 → t2 is ww and rt,
    t2 → t1 rw. The data explain the cycle: G-single only."""
    events = (TraceBuilder()
              .start("t1").read("t1", "a", 100).write("t1", "a", 105).commit("t1")
              .start("t2").read("t2", "a", 100).write("t2", "a", 107, "t1").commit("t2")).events
    verdict = check_serializability(derive_facts(BATCH, events))
    assert set(by_class(verdict)) == {G_SINGLE}


def test_a_real_time_cycle_is_named_beside_a_data_cycle():
    """A lost update (t1, t2) and, apart, t4 starting after t3 committed x@t3 and reading
    x@init: a G-single and a G-single-realtime."""
    batch = Batch({"a": 100, "x": 10}, (
        *BATCH.transactions[:2],
        Transaction("t3", (Deposit("x", 1),)), Transaction("t4", (Read("x"),))))
    events = (lost_update(TraceBuilder())
              .start("t3", 2).read("t3", "x", 10, worker=2).write("t3", "x", 11, worker=2)
              .commit("t3", 2)
              .start("t4", 3).read("t4", "x", 10, worker=3).commit("t4", 3)).events
    found = by_class(check_serializability(derive_facts(batch, events)))
    assert set(found) == {G_SINGLE, G_SINGLE_REALTIME}
    assert found[G_SINGLE_REALTIME].edges == (Edge("t3", "t4", "rt"),
                                              Edge("t4", "t3", "rw", "x"))


GRAPHS = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.sampled_from(KINDS)),
                  min_size=2, max_size=16)
"""Serialization graphs on up to six transactions: edges ``(u, v, kind)`` (the last of a
pair counts)."""


@settings(max_examples=300, deadline=None)
@given(GRAPHS)
def test_each_class_found_is_the_shortest_simple_cycle_of_that_class(graph):
    """Against every simple cycle of the graph, each named by the first class its edges
    satisfy: the search finds exactly the classes present, each with a shortest cycle."""
    kinds: dict[int, dict[int, int]] = {}
    for u, v, kind in graph:
        if u != v:
            kinds.setdefault(u, {})[v] = kind
            kinds.setdefault(v, {})
    found = _shortest_per_class(kinds)
    shortest: dict[str, int] = {}
    for cycle in nx.simple_cycles(nx.DiGraph([(u, v) for u in kinds for v in kinds[u]])):
        anomaly = cycle_anomaly([kinds[u][v] for u, v in _pairs(cycle)]).anomaly
        shortest[anomaly] = min(shortest.get(anomaly, len(cycle)), len(cycle))
    assert {anomaly: len(cycle) for anomaly, cycle in found.items()} == shortest
    for anomaly, cycle in found.items():
        assert len(set(cycle)) == len(cycle)
        assert cycle_anomaly([kinds[u][v] for u, v in _pairs(cycle)]).anomaly == anomaly
