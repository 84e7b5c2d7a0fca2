"""Dependency analysis: edges, cycles, generations, critical path."""

from __future__ import annotations

import time

import pytest

from aethel.analysis import (
    conflict_report,
    critical_path,
    dependency_graph,
    independent_sets,
    parallelism_bound,
    serial_order,
)
from aethel.errors import CircularDependencyError, DuplicateTransactionError, UnknownDependencyError
from aethel.model import Batch, Transaction
from aethel.operations import Deposit, Read, Spin, Transfer


def tx(tx_id, *ops, after=(), reads=()):
    return Transaction(tx_id, ops, reads=frozenset(reads), after=after)


def batch(*txs, accounts=("a", "b", "c", "d")):
    return Batch({a: 100 for a in accounts}, txs)


def conflicts(graph, u, v):
    return sorted(graph.edges[u, v]["conflicts"])


def test_raw_waw_war_edges_are_labelled_with_type_and_account():
    g = dependency_graph(batch(
        tx("w1", Deposit("a", 1)),
        tx("r1", Read("a")),
        tx("r2", Read("a")),
        tx("w2", Deposit("a", 1)),
    ))
    assert conflicts(g, "w1", "r1") == [("RAW", "a")]
    assert conflicts(g, "w1", "r2") == [("RAW", "a")]
    assert conflicts(g, "r1", "w2") == [("WAR", "a")]
    assert conflicts(g, "r2", "w2") == [("WAR", "a")]
    assert ("RAW", "a") in conflicts(g, "w1", "w2") and ("WAW", "a") in conflicts(g, "w1", "w2")
    assert not g.has_edge("r1", "r2")


def test_edges_only_go_forward_in_batch_order_and_sharing_accounts_is_accepted():
    g = dependency_graph(batch(*(tx(f"t{i}", Transfer("a", "b", 1)) for i in range(20))))
    index = {n: d["index"] for n, d in g.nodes(data=True)}
    assert g.number_of_edges() == 19
    assert all(index[u] < index[v] for u, v in g.edges)
    assert serial_order(g) == [f"t{i}" for i in range(20)]


def test_independent_transactions_have_no_edges_and_one_generation():
    g = dependency_graph(batch(tx("t1", Deposit("a", 1)), tx("t2", Deposit("b", 1)),
                               tx("t3", Read("c"))))
    assert g.number_of_edges() == 0
    assert independent_sets(g) == [["t1", "t2", "t3"]]


def test_explicit_dependency_cycle_is_named():
    with pytest.raises(CircularDependencyError) as err:
        dependency_graph(batch(
            tx("t1", Deposit("a", 1)),
            tx("t2", Read("b")),
            tx("t3", Read("a"), after=("t7",)),
            tx("t7", Read("c"), after=("t3",)),
        ))
    assert err.value.cycle in (["t3", "t7", "t3"], ["t7", "t3", "t7"])
    assert "t3 → t7" in str(err.value) or "t7 → t3" in str(err.value)


def test_forward_after_moves_the_named_transaction_earlier_instead_of_closing_a_cycle():
    g = dependency_graph(batch(tx("t1", Deposit("a", 1), after=("t2",)),
                               tx("t2", Deposit("a", 1))))
    assert serial_order(g) == ["t2", "t1"]
    assert list(g.edges) == [("t2", "t1")]
    assert conflicts(g, "t2", "t1") == [("RAW", "a"), ("WAW", "a"), ("explicit", None)]
    assert dict(g.nodes(data="index")) == {"t1": 0, "t2": 1}
    assert dict(g.nodes(data="serial")) == {"t1": 1, "t2": 0}
    assert independent_sets(g) == [["t2"], ["t1"]]


def test_conflict_edges_follow_the_serial_order_moved_by_after():
    g = dependency_graph(batch(
        tx("t1", Deposit("a", 1), after=("t3",)),
        tx("t2", Read("a"), Deposit("b", 1)),
        tx("t3", Read("b")),
    ))
    assert serial_order(g) == ["t2", "t3", "t1"]
    assert conflicts(g, "t2", "t3") == [("RAW", "b")]
    assert conflicts(g, "t2", "t1") == [("WAR", "a")]
    assert conflicts(g, "t3", "t1") == [("explicit", None)]
    assert g.number_of_edges() == 3
    serial = dict(g.nodes(data="serial"))
    assert all(serial[u] < serial[v] for u, v in g.edges)


def test_serial_order_is_the_smallest_batch_index_first_order_of_the_after_edges():
    g = dependency_graph(batch(
        tx("t1", Read("a"), after=("t4",)),
        tx("t2", Read("b"), after=("t1",)),
        tx("t3", Read("c")),
        tx("t4", Read("d"), after=("t5",)),
        tx("t5", Read("a")),
    ))
    assert serial_order(g) == ["t3", "t5", "t4", "t1", "t2"]


def test_explicit_cycle_behind_a_forward_after_is_still_named():
    with pytest.raises(CircularDependencyError) as err:
        dependency_graph(batch(
            tx("t1", Deposit("a", 1), after=("t3",)),
            tx("t2", Read("a")),
            tx("t3", Read("b"), after=("t4",)),
            tx("t4", Read("c"), after=("t1",)),
        ))
    assert sorted(err.value.cycle[:-1]) == ["t1", "t3", "t4"]
    assert err.value.cycle[0] == err.value.cycle[-1]


def test_unknown_after_and_duplicate_ids_are_errors():
    with pytest.raises(UnknownDependencyError, match="ghost"):
        batch(tx("t1", Read("a"), after=("ghost",)))
    with pytest.raises(DuplicateTransactionError, match="t1"):
        batch(tx("t1", Read("a")), tx("t1", Read("b")))


def test_critical_path_and_bound_use_node_costs():
    g = dependency_graph(batch(
        tx("t1", Deposit("a", 1), Spin(us=1000)),
        tx("t2", Read("a"), Spin(us=1000)),
        tx("t3", Deposit("b", 1), Spin(us=500)),
    ))
    path, cost = critical_path(g)
    assert path == ["t1", "t2"] and cost == pytest.approx(2002, abs=5)
    assert parallelism_bound(g, 8) == pytest.approx(2503 / 2002, rel=0.01)
    measured = {"t1": 1.0, "t2": 1.0, "t3": 10.0}
    assert critical_path(g, measured) == (["t3"], 10.0)
    assert parallelism_bound(g, 1, measured) == 1.0


def test_conflict_report_counts_edges_and_hot_accounts():
    report = conflict_report(batch(
        tx("t1", Transfer("a", "b", 1)), tx("t2", Transfer("a", "c", 1)), tx("t3", Read("d")),
    ))
    assert report.edges == 1
    assert report.edges_by_type == {"RAW": 1, "WAW": 1}
    assert report.hot_accounts == [("a", 2)]
    assert report.levels == 2 and report.max_width == 2
    assert any("hottest accounts: a (2 txns)" in line for line in report.lines())


def _ring_batch(n: int) -> Batch:
    """``n`` transfers around a ring of 1000 accounts: each conflicts with its neighbours."""
    txs = [tx(f"t{i}", Transfer(f"x{i % 1000}", f"x{(i + 1) % 1000}", 1)) for i in range(n)]
    return Batch({f"x{i}": 10 for i in range(1000)}, txs)


def _cpu_seconds(batch: Batch) -> float:
    """The least CPU time (of three) the analysis of ``batch`` takes: CPU time, not wall
    time, so that other processes' load does not count."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        dependency_graph(batch)
        best = min(best, time.process_time() - started)
    return best


def test_linear_analysis_scales_to_many_transactions():
    small, large = _ring_batch(5_000), _ring_batch(20_000)
    g = dependency_graph(large)
    assert g.number_of_nodes() == 20_000
    assert g.in_degree("t1000") == 2
    # four times the transactions: about 4x the time if linear, 16x if quadratic
    ratio = _cpu_seconds(large) / _cpu_seconds(small)
    assert ratio < 8, f"analysis of 4x the transactions took {ratio:.1f}x the CPU time"
