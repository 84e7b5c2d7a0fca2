"""The compact dependency DAG: the same graph and results as the networkx form, in a fifth
of its memory and linear time."""

from __future__ import annotations

import time
import tracemalloc
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aethel.analysis import (
    DependencyDag,
    conflict_report,
    critical_path,
    dependency_dag,
    dependency_graph,
    independent_sets,
    parallelism_bound,
    serial_order,
)
from aethel.errors import CircularDependencyError
from aethel.model import Batch, Transaction
from aethel.operations import Deposit, Read, Transfer
from harness.campaign.strategies import batches, hot_chains, wide_reads
from harness.checks.facts import dependencies

BATCHES = st.one_of(batches(max_transactions=30), wide_reads(), hot_chains())


def _ring(n: int) -> Batch:
    """``n`` transfers around a ring of 1000 accounts, a read every tenth transaction."""
    txs = [Transaction(f"t{i}", (Read(f"x{i % 1000}"),) if i % 10 == 0 else
                       (Transfer(f"x{i % 1000}", f"x{(i + 1) % 1000}", 1),)) for i in range(n)]
    return Batch({f"x{i}": 10 for i in range(1000)}, txs)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(BATCHES)
def test_both_forms_are_the_same_graph_with_the_same_results(batch):
    try:
        dag = dependency_dag(batch)
    except CircularDependencyError:
        with pytest.raises(CircularDependencyError):
            dependency_graph(batch)
        return
    graph = dependency_graph(batch)
    assert list(dag.to_networkx().nodes(data=True)) == list(graph.nodes(data=True))
    assert list(dag.to_networkx().edges(data=True)) == list(graph.edges(data=True))
    for i, t in enumerate(dag.ids):
        assert [dag.ids[u] for u in dag.predecessors(i)] == list(graph.pred[t])
        assert [dag.ids[v] for v in dag.successors(i)] == list(graph.succ[t])
    assert dag.number_of_edges() == graph.number_of_edges()
    assert serial_order(dag) == serial_order(graph)
    assert independent_sets(dag) == independent_sets(graph)
    measured = {t: float(i % 3) for i, t in enumerate(dag.ids)}
    for cost in (None, measured):
        assert critical_path(dag, cost) == critical_path(graph, cost)
        assert parallelism_bound(dag, 3, cost) == parallelism_bound(graph, 3, cost)
    assert conflict_report(batch, dag) == conflict_report(batch, graph) == conflict_report(batch)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(BATCHES)
def test_every_conflict_is_one_the_checkers_derive_independently(batch):
    try:
        dag = dependency_dag(batch)
    except CircularDependencyError:
        return
    found = Counter((u, v, kind, account) for u, v, conflicts in dag.edge_conflicts()
                    for kind, account in conflicts)
    assert found == Counter(dependencies(batch))
    assert all(dag.rank[u] < dag.rank[v] for u, v, _ in dag.edge_conflicts())


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(BATCHES)
def test_a_networkx_graph_converts_to_the_same_compact_dag(batch):
    try:
        dag = dependency_dag(batch)
    except CircularDependencyError:
        return
    again = DependencyDag.from_networkx(batch, dependency_graph(batch))
    for name in ("order", "rank", "pstart", "preds", "rstart"):
        assert list(getattr(again, name)) == list(getattr(dag, name)), name
    assert list(again.edge_conflicts()) == list(dag.edge_conflicts())


def test_a_changed_networkx_graph_keeps_exactly_its_own_edges():
    batch = _ring(50)
    graph = dependency_graph(batch)
    graph.remove_edges_from([(u, v) for u, v, c in graph.edges(data="conflicts")
                             if ("WAW", "x5") in c])
    graph.add_edge("t0", "t49")  # an edge without conflicts
    dag = DependencyDag.from_networkx(batch, graph)
    assert list(dag.to_networkx().edges) == list(graph.edges)
    assert dag.number_of_edges() == graph.number_of_edges()
    assert independent_sets(dag) == independent_sets(graph)


def test_tied_critical_paths_end_where_networkx_ends_them():
    # two chains of equal estimated cost: the path found is the same in both forms
    batch = Batch({"a": 1, "b": 1, "c": 1}, [
        Transaction("t1", (Deposit("b", 1),)), Transaction("t2", (Deposit("a", 1),)),
        Transaction("t3", (Deposit("a", 1),)), Transaction("t4", (Deposit("b", 1),)),
        Transaction("t5", (Deposit("c", 1),), after=("t2",)),
    ])
    dag = dependency_dag(batch)
    assert critical_path(dag) == critical_path(dependency_graph(batch))
    assert independent_sets(dag) == [["t1", "t2"], ["t3", "t4", "t5"]]


def test_a_cycle_of_explicit_dependencies_is_named():
    batch = Batch({"a": 1}, [Transaction("t1", (Deposit("a", 1),), after=("t2",)),
                             Transaction("t2", (Deposit("a", 1),), after=("t1",))])
    with pytest.raises(CircularDependencyError, match="t1"):
        dependency_dag(batch)


def test_the_analysis_takes_under_400_bytes_per_transaction():
    # the networkx form alone takes about 1,500
    batch = _ring(20_000)
    tracemalloc.start()
    try:
        dag = dependency_dag(batch)
        independent_sets(dag)
        critical_path(dag)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(dag, DependencyDag) and dag.number_of_edges() > 19_000
    assert peak / len(batch) < 400, f"{peak / len(batch):.0f} bytes per transaction"


def _cpu_seconds(batch: Batch) -> float:
    """The least CPU time (of three) of building the DAG, its generations and its critical
    path: CPU time, so that other processes' load does not count."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        dag = dependency_dag(batch)
        independent_sets(dag)
        critical_path(dag)
        best = min(best, time.process_time() - started)
    return best


def test_the_analysis_takes_linear_time():
    small, large = _ring(10_000), _ring(40_000)
    # four times the transactions: about 4x the time if linear, 16x if quadratic
    ratio = _cpu_seconds(large) / _cpu_seconds(small)
    assert ratio < 8, f"analysis of 4x the transactions took {ratio:.1f}x the CPU time"
