"""Dependency analysis: the conflict DAG of a batch and what follows from it.

The serial order is batch order, moved only as far as explicit ``after`` dependencies
require: the topological order of the ``after`` edges alone that always takes the ready
transaction earliest in the batch. When every ``after`` names an earlier transaction it is
batch order itself, found without a sort. Only explicit dependencies can close a cycle.

Conflict edges then go from an earlier to a later transaction in serial order. For each
account a per-account index keeps the last writer and the readers since that write, so
that building the graph costs time linear in the number of account accesses:

* RAW: last writer → later reader,
* WAW: last writer → next writer,
* WAR: readers since the last write → next writer.

Edges carry ``conflicts``: a list of ``(type, account)`` pairs. Explicit ``after``
dependencies add ``("explicit", None)`` edges. Every edge goes forward in serial order, so
the graph is acyclic.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx

from aethel.errors import CircularDependencyError
from aethel.memory import paused_gc
from aethel.model import Batch, Transaction

RAW, WAW, WAR, EXPLICIT = "RAW", "WAW", "WAR", "explicit"


def dependency_graph(batch: Batch) -> nx.DiGraph:
    """The batch's dependency DAG over transaction ids.

    Node attributes: ``index``, the position in the batch; ``serial``, the position in
    serial order (see :func:`serial_order`); ``cost``, the estimated cost in µs.
    Raises :class:`CircularDependencyError` when explicit dependencies form a cycle.
    """
    with paused_gc():
        return _build(batch)


def _build(batch: Batch) -> nx.DiGraph:
    order = _serial_transactions(batch)
    graph = nx.DiGraph()
    graph.add_nodes_from((tx.id, {"index": i, "serial": i, "cost": tx.cost_us()})
                         for i, tx in enumerate(batch.transactions))
    if order is not batch.transactions:
        nodes = graph.nodes
        for r, tx in enumerate(order):
            nodes[tx.id]["serial"] = r
    edges: dict[tuple[str, str], list[tuple[str, str | None]]] = defaultdict(list)
    last_writer: dict[str, str] = {}
    readers: dict[str, list[str]] = defaultdict(list)
    for tx in order:
        for account in sorted(tx.reads):
            writer = last_writer.get(account)
            if writer is not None:
                edges[(writer, tx.id)].append((RAW, account))
        for account in sorted(tx.writes):
            for reader in readers.pop(account, ()):
                if reader != tx.id:
                    edges[(reader, tx.id)].append((WAR, account))
            writer = last_writer.get(account)
            if writer is not None:
                edges[(writer, tx.id)].append((WAW, account))
            last_writer[account] = tx.id
        for account in tx.reads - tx.writes:
            readers[account].append(tx.id)
        for dep in tx.after:
            edges[(dep, tx.id)].append((EXPLICIT, None))
    graph.add_edges_from((u, v, {"conflicts": c}) for (u, v), c in edges.items())
    return graph


def _serial_transactions(batch: Batch) -> Sequence[Transaction]:
    """The transactions in serial order: ``batch.transactions`` itself when every ``after``
    names an earlier transaction, else the smallest-index-first topological order of the
    ``after`` edges. Raises :class:`CircularDependencyError` naming a cycle among them."""
    txs = batch.transactions
    if not any(tx.after for tx in txs):
        return txs
    index = {tx.id: i for i, tx in enumerate(txs)}
    if all(index[dep] < i for i, tx in enumerate(txs) for dep in tx.after):
        return txs
    succ: list[list[int]] = [[] for _ in txs]
    indeg = [0] * len(txs)
    for i, tx in enumerate(txs):
        for dep in tx.after:
            succ[index[dep]].append(i)
            indeg[i] += 1
    ready = [i for i, d in enumerate(indeg) if not d]
    heapq.heapify(ready)
    order = []
    while ready:
        u = heapq.heappop(ready)
        order.append(txs[u])
        for v in succ[u]:
            indeg[v] -= 1
            if not indeg[v]:
                heapq.heappush(ready, v)
    if len(order) < len(txs):
        stuck = nx.DiGraph((dep, tx.id) for i, tx in enumerate(txs) if indeg[i]
                           for dep in tx.after if indeg[index[dep]])
        nodes = [u for u, _ in nx.find_cycle(stuck)]
        raise CircularDependencyError([*nodes, nodes[0]])
    return order


def serial_order(graph: nx.DiGraph) -> list[str]:
    """The serial order: batch order, moved only as far as explicit dependencies require."""
    serial = dict(graph.nodes(data="serial"))
    return sorted(serial, key=serial.__getitem__)


def independent_sets(graph: nx.DiGraph) -> list[list[str]]:
    """Topological generations, each in serial order: each set's transactions are mutually
    independent."""
    serial = dict(graph.nodes(data="serial"))
    return [sorted(g, key=serial.__getitem__) for g in nx.topological_generations(graph)]


def critical_path(graph: nx.DiGraph, cost: dict[str, float] | None = None
                  ) -> tuple[list[str], float]:
    """The heaviest path through the DAG and its total cost.

    Node weights are ``cost`` (e.g. measured durations) or the estimated ``cost`` attribute.
    """
    weight = cost if cost is not None else {n: d["cost"] for n, d in graph.nodes(data=True)}
    best: dict[str, float] = {}
    prev: dict[str, str | None] = {}
    for node in nx.topological_sort(graph):
        pred = max(graph.predecessors(node), key=best.__getitem__, default=None)
        best[node] = weight[node] + (best[pred] if pred is not None else 0.0)
        prev[node] = pred
    if not best:
        return [], 0.0
    end: str | None = max(best, key=best.__getitem__)
    total = best[end]
    path = []
    while end is not None:
        path.append(end)
        end = prev[end]
    return path[::-1], total


def parallelism_bound(graph: nx.DiGraph, workers: int, cost: dict[str, float] | None = None
                      ) -> float:
    """min(workers, total work / critical-path work): the best speedup the DAG allows."""
    weight = cost if cost is not None else {n: d["cost"] for n, d in graph.nodes(data=True)}
    total = sum(weight.values())
    _, longest = critical_path(graph, weight)
    return min(float(workers), total / longest) if longest > 0 else float(workers)


@dataclass(frozen=True)
class ConflictReport:
    """A summary of where a batch's transactions conflict."""

    transactions: int
    edges: int
    edges_by_type: dict[str, int]
    hot_accounts: list[tuple[str, int]]
    levels: int
    max_width: int
    critical_path: list[str]
    critical_path_us: float
    parallelism_bound: float

    def lines(self) -> list[str]:
        """The report in plain words."""
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.edges_by_type.items())) or "none"
        hot = ", ".join(f"{a} ({n} txns)" for a, n in self.hot_accounts) or "none"
        return [
            f"{self.transactions} transactions, {self.edges} dependency edges ({kinds})",
            f"{self.levels} levels, widest level {self.max_width}",
            f"hottest accounts: {hot}",
            f"critical path: {len(self.critical_path)} transactions, "
            f"{self.critical_path_us:.0f} µs estimated; parallelism bound "
            f"{self.parallelism_bound:.2f}",
        ]


def conflict_report(batch: Batch, graph: nx.DiGraph | None = None, top: int = 5
                    ) -> ConflictReport:
    """Count edges by type, find the hottest accounts, levels and the critical path."""
    graph = graph if graph is not None else dependency_graph(batch)
    by_type: Counter[str] = Counter()
    for _, _, conflicts in graph.edges(data="conflicts"):
        by_type.update(kind for kind, _ in conflicts)
    access = Counter(a for tx in batch.transactions for a in tx.accounts)
    levels = independent_sets(graph)
    path, cost = critical_path(graph)
    total = sum(tx.cost_us() for tx in batch.transactions)
    return ConflictReport(
        transactions=len(batch),
        edges=graph.number_of_edges(),
        edges_by_type=dict(by_type),
        hot_accounts=sorted(((a, n) for a, n in access.items() if n > 1),
                            key=lambda an: (-an[1], an[0]))[:top],
        levels=len(levels),
        max_width=max((len(level) for level in levels), default=0),
        critical_path=path,
        critical_path_us=cost,
        parallelism_bound=total / cost if cost else 0.0,
    )
