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

Two forms of the same graph: :func:`dependency_dag` gives a :class:`DependencyDag`, arrays
of transaction indices (a fifth of the memory, built in a few µs per transaction), and
:func:`dependency_graph` a ``networkx.DiGraph`` over transaction ids
(:meth:`DependencyDag.to_networkx`). :func:`serial_order`, :func:`independent_sets`,
:func:`critical_path`, :func:`parallelism_bound` and :func:`conflict_report` take either and
give the same results for both.
"""

from __future__ import annotations

import heapq
from array import array
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import accumulate, pairwise
from operator import add
from typing import Any

import networkx as nx

from aethel.errors import CircularDependencyError
from aethel.memory import paused_gc
from aethel.model import Batch, Transaction
from aethel.trace import INIT

RAW, WAW, WAR, EXPLICIT = "RAW", "WAW", "WAR", "explicit"
KINDS = (RAW, WAW, WAR, EXPLICIT)
"""The conflict types, by the code :class:`DependencyDag` stores for each."""
_RAW, _WAW, _WAR, _EXPLICIT = range(len(KINDS))
_RAW_WAW = (_RAW, _WAW)
_RAW_RAW_WAW_WAW = (_RAW, _RAW, _WAW, _WAW)


class DependencyDag:
    """The dependency DAG of a batch as arrays over transaction indices (batch positions).

    :attr:`order` lists the transactions in serial order and :attr:`rank` gives each one's
    position in it. The edges into the transaction of rank ``r`` are
    ``preds[pstart[r]:pstart[r + 1]]``, in the order their first conflict was found; the
    reasons found while ``r`` was analysed are ``rsrc`` (the predecessor), ``rkind`` (an
    index into :data:`KINDS`) and ``racct`` (the account, ``None`` for an explicit
    dependency) at ``rstart[r]:rstart[r + 1]``. Successors, generations and estimated costs
    are derived when first asked for.
    """

    def __init__(self, batch: Batch, order: Sequence[int], pstart: array, preds: array,
                 rstart: array, rsrc: array, rkind: array, racct: list[str | None]) -> None:
        self.batch = batch
        self.ids = [tx.id for tx in batch.transactions]
        self.order = array("i", order)
        if isinstance(order, range):
            self.rank = self.order
        else:
            self.rank = array("i", bytes(4 * len(self.order)))
            for r, v in enumerate(self.order):
                self.rank[v] = r
        self.pstart, self.preds = pstart, preds
        self.rstart, self.rsrc, self.rkind, self.racct = rstart, rsrc, rkind, racct

    @classmethod
    def from_networkx(cls, batch: Batch, graph: nx.DiGraph) -> DependencyDag:
        """The compact form of a graph over ``batch``'s transaction ids in the form
        :func:`dependency_graph` gives (its ``serial`` node attributes and ``conflicts`` edge
        attributes; a graph someone changed keeps exactly its own edges)."""
        index = {t: i for i, t in enumerate(batch.ids)}
        serial = graph.nodes(data="serial")
        order = sorted(range(len(index)), key=lambda i: serial[batch.transactions[i].id])
        pstart, preds, rstart, rsrc, rkind = [0], [], [0], [], []
        racct: list[str | None] = []
        code = {kind: c for c, kind in enumerate(KINDS)}
        for v in order:
            for u, data in graph.pred[batch.transactions[v].id].items():
                preds.append(index[u])
                for kind, account in data.get("conflicts", ()):
                    rsrc.append(index[u])
                    rkind.append(code[kind])
                    racct.append(account)
            pstart.append(len(preds))
            rstart.append(len(rsrc))
        return cls(batch, order, array("q", pstart), array("i", preds), array("q", rstart),
                   array("i", rsrc), array("b", rkind), racct)

    def __len__(self) -> int:
        return len(self.ids)

    def number_of_edges(self) -> int:
        """How many edges (pairs of transactions) the DAG has."""
        return len(self.preds)

    def predecessors(self, v: int) -> array:
        """The transactions ``v`` depends on (indices), in the order they were found."""
        r = self.rank[v]
        return self.preds[self.pstart[r]:self.pstart[r + 1]]

    def successors(self, u: int) -> array:
        """The transactions that depend on ``u`` (indices), in serial order."""
        sstart, succ = self._successors
        return succ[sstart[u]:sstart[u + 1]]

    def in_degrees(self) -> array:
        """The number of predecessors of each transaction, by index."""
        pstart = self.pstart
        return array("i", [pstart[r + 1] - pstart[r] for r in self.rank])

    @cached_property
    def _successors(self) -> tuple[array, array]:
        """Successor lists in CSR form by index: starts (one more than transactions) and
        successors, each list in serial order."""
        n, preds, pstart = len(self), self.preds, self.pstart
        counts = [0] * (n + 1)
        for u in preds:
            counts[u + 1] += 1
        sstart = array("q", accumulate(counts))
        fill = list(sstart[:-1])
        succ = array("i", bytes(4 * len(preds)))
        for r, v in enumerate(self.order):
            for u in preds[pstart[r]:pstart[r + 1]]:
                succ[fill[u]] = v
                fill[u] += 1
        return sstart, succ

    @cached_property
    def ranked(self) -> Ranked:
        """The DAG over ranks, as the executor walks it; built on first use and shared, read
        only, by every run of this DAG."""
        return Ranked(self)

    @cached_property
    def costs(self) -> array:
        """The estimated cost of each transaction (µs), by index."""
        return array("d", map(Transaction.cost_us, self.batch.transactions))

    @cached_property
    def _levels(self) -> list[array]:
        """Topological generations, each in serial order: a transaction's generation is one
        more than its predecessors' latest (0 without any), as
        ``networkx.topological_generations`` finds them."""
        preds = self.preds
        level = array("i", bytes(4 * len(self)))
        levels: list[array] = []
        for v, (lo, hi) in zip(self.order, pairwise(self.pstart), strict=True):
            if lo == hi:
                g = 0
            elif hi - lo == 1:
                g = level[preds[lo]] + 1
            elif hi - lo == 2:
                g, h = level[preds[lo]], level[preds[lo + 1]]
                g = (g if g > h else h) + 1
            else:
                g = max(map(level.__getitem__, preds[lo:hi])) + 1
            level[v] = g
            if g == len(levels):
                levels.append(array("i"))
            levels[g].append(v)
        return levels

    def generations(self) -> list[list[int]]:
        """Topological generations (indices), each in serial order."""
        return [list(level) for level in self._levels]

    def _topological_positions(self) -> array:
        """Each transaction's position in ``networkx.topological_sort`` of
        :meth:`to_networkx`'s graph: generation by generation; the first in batch order,
        then each in the order of discovery (by the position of the predecessor processed
        last, then in serial order, the order of that predecessor's successors)."""
        n, preds, pstart, rank = len(self), self.preds, self.pstart, self.rank
        position = array("i", bytes(4 * n))
        done = 0
        for g, level in enumerate(self._levels):
            if g == 0:
                found = sorted(level)
            else:
                keys = [max(map(position.__getitem__, preds[pstart[r]:pstart[r + 1]])) * n + r
                        for r in map(rank.__getitem__, level)]
                found = [v for _, v in sorted(zip(keys, level, strict=True))]
            for v in found:
                position[v] = done
                done += 1
        return position

    def critical_path(self, cost: dict[str, float] | None = None) -> tuple[list[str], float]:
        """The heaviest path and its total cost (see :func:`critical_path`)."""
        ids = self.ids
        weight: Sequence[float] = self.costs if cost is None else [cost[t] for t in ids]
        preds = self.preds
        best = [0.0] * len(ids)
        prev = [-1] * len(ids)
        for v, (lo, hi) in zip(self.order, pairwise(self.pstart), strict=True):
            if lo == hi:
                best[v] = weight[v] + 0.0
                continue
            p = preds[lo]
            if hi - lo == 2:
                q = preds[lo + 1]
                if best[q] > best[p]:  # the first of the heaviest, as max() takes it
                    p = q
            elif hi - lo > 2:
                p = max(preds[lo:hi], key=best.__getitem__)
            best[v] = weight[v] + best[p]
            prev[v] = p
        if not best:
            return [], 0.0
        top = max(best)
        end = best.index(top)
        if best.count(top) > 1:  # the first of them in networkx's topological order
            position = self._topological_positions()
            end = min((v for v, b in enumerate(best) if b == top), key=position.__getitem__)
        total = best[end]
        path = []
        while end >= 0:
            path.append(ids[end])
            end = prev[end]
        return path[::-1], total

    def edge_conflicts(self) -> Iterator[tuple[int, int, list[tuple[str, str | None]]]]:
        """Every edge as ``(u, v, conflicts)`` (indices), in the order it was found."""
        rstart, rsrc, rkind, racct = self.rstart, self.rsrc, self.rkind, self.racct
        preds, pstart = self.preds, self.pstart
        for r, v in enumerate(self.order):
            found: dict[int, list[tuple[str, str | None]]] = {
                u: [] for u in preds[pstart[r]:pstart[r + 1]]}
            for k in range(rstart[r], rstart[r + 1]):
                found[rsrc[k]].append((KINDS[rkind[k]], racct[k]))
            for u, conflicts in found.items():
                yield u, v, conflicts

    def edges_by_type(self) -> dict[str, int]:
        """How many conflicts of each type the edges carry (types that occur)."""
        counts = Counter(self.rkind)
        return {kind: counts[code] for code, kind in enumerate(KINDS) if counts[code]}

    def to_networkx(self) -> nx.DiGraph:
        """The same DAG as a ``networkx.DiGraph`` over transaction ids (see
        :func:`dependency_graph`)."""
        with paused_gc():
            graph = nx.DiGraph()
            rank, ids = self.rank, self.ids
            graph.add_nodes_from((tx.id, {"index": i, "serial": rank[i], "cost": tx.cost_us()})
                                 for i, tx in enumerate(self.batch.transactions))
            graph.add_edges_from((ids[u], ids[v], {"conflicts": c})
                                 for u, v, c in self.edge_conflicts())
            return graph


class Ranked:
    """A :class:`DependencyDag` over ranks (positions in serial order), as the executor
    walks it: each rank's transaction id (:attr:`ids`), the rank of each id, the
    transactions, the successors and the number of predecessors of each rank; derived when
    first asked for, the generations, the estimated work and heaviest path, and the
    dependency steps; the initial state of the last accounts asked for, the plans made of
    the DAG and each worker's part of them. Built once per DAG and shared by its runs, which
    only read it."""

    def __init__(self, dag: DependencyDag) -> None:
        ids, by_index = dag.ids, dag.batch.transactions
        self.ids = [ids[v] for v in dag.order]
        self.rank = {tx_id: r for r, tx_id in enumerate(self.ids)}
        self.transactions = [by_index[v] for v in dag.order]
        succ: list[list[int]] = [[] for _ in self.ids]
        npred = [0] * len(self.ids)
        rank_of, pstart, preds = dag.rank, dag.pstart, dag.preds
        for r in self.rank.values():  # the ranks as the rank dict's ints: one object each
            first, last = pstart[r], pstart[r + 1]
            npred[r] = last - first
            for u in preds[first:last]:
                succ[rank_of[u]].append(r)
        self.succ: list[tuple[int, ...]] = [tuple(s) if s else () for s in succ]
        """The successors of each rank, in rank order (tuples: half the memory of lists)."""
        self.npred = npred
        self._costs = dag.costs
        self._order = dag.order
        self._steps: dict[bool, int] = {}
        self._initial: tuple[Mapping[str, int], dict[str, tuple[int, str]]] | None = None
        self.plans: dict[tuple[int, float, float], tuple[list[int], float]] = {}
        """The plans the executor made of this DAG (:func:`plan_workers`), by workers,
        message µs and overhead µs."""
        self.parts: dict[tuple[int, ...], list[Any]] = {}
        """Each worker's part of a plan (the executor's), by workers and the plan's worker
        of each rank."""

    def initial_state(self, accounts: Mapping[str, int]) -> dict[str, tuple[int, str]]:
        """A new state holding each of ``accounts`` with its balance and version ``init``
        (a copy of the one made for the same mapping before: copying is many times faster
        than building)."""
        if self._initial is None or self._initial[0] is not accounts:
            self._initial = accounts, {a: (v, INIT) for a, v in accounts.items()}
        return dict(self._initial[1])

    @cached_property
    def levels(self) -> list[list[int]]:
        """The ranks of each topological generation (as :func:`independent_sets` gives
        them), in serial order."""
        level = [0] * len(self.ids)
        levels: list[list[int]] = []
        for r, successors in enumerate(self.succ):
            k = level[r]
            if k == len(levels):
                levels.append([])
            levels[k].append(r)
            for s in successors:
                if level[s] <= k:
                    level[s] = k + 1
        return levels

    @cached_property
    def groups(self) -> list[list[str]]:
        """The transaction ids of each generation (:attr:`levels`), in serial order."""
        ids = self.ids
        return [[ids[r] for r in level] for level in self.levels]

    @cached_property
    def estimated_work(self) -> float:
        """The estimated cost of all the transactions (µs; :attr:`DependencyDag.costs`)."""
        return sum(self._costs[v] for v in self._order)

    @cached_property
    def estimated_path(self) -> float:
        """The heaviest path's estimated cost (µs; :attr:`DependencyDag.costs`)."""
        costs = self._costs
        return self.longest_path([costs[v] for v in self._order])

    def longest_path(self, durations: Sequence[float]) -> float:
        """The heaviest path's total of ``durations`` (by rank), as :func:`critical_path`
        computes it: ranks are a topological order."""
        start = [0.0] * len(durations)
        succ = self.succ
        for r in self.leading:
            end = durations[r] + start[r]
            for s in succ[r]:
                if start[s] < end:
                    start[s] = end
        return max(map(add, durations, start), default=0.0)

    @cached_property
    def leading(self) -> list[int]:
        """The ranks that have successors, in rank order."""
        return [r for r, successors in enumerate(self.succ) if successors]

    def steps(self, chains: bool) -> int:
        """The most dependency steps on any path, counting the first; with ``chains``, a link
        of a chain (a rank's only successor, whose only predecessor it is) is no step."""
        found = self._steps.get(chains)
        if found is None:
            depth = [1] * len(self.succ)
            found = 0
            npred = self.npred
            for r, successors in enumerate(self.succ):
                d = depth[r]
                found = max(found, d)
                link = chains and len(successors) == 1
                for s in successors:
                    step = d if link and npred[s] == 1 else d + 1
                    if depth[s] < step:
                        depth[s] = step
            self._steps[chains] = found
        return found


Graph = nx.DiGraph | DependencyDag
"""Either form of the dependency DAG."""


def dependency_dag(batch: Batch) -> DependencyDag:
    """The batch's dependency DAG in compact form. Raises
    :class:`CircularDependencyError` when explicit dependencies form a cycle."""
    with paused_gc():
        return _build(batch)


def dependency_graph(batch: Batch) -> nx.DiGraph:
    """The batch's dependency DAG over transaction ids.

    Node attributes: ``index``, the position in the batch; ``serial``, the position in
    serial order (see :func:`serial_order`); ``cost``, the estimated cost in µs.
    Raises :class:`CircularDependencyError` when explicit dependencies form a cycle.
    """
    return dependency_dag(batch).to_networkx()


def _build(batch: Batch) -> DependencyDag:
    txs = batch.transactions
    explicit = any(tx.after for tx in txs)
    order = _serial_indices(batch) if explicit else range(len(txs))
    index = {tx.id: i for i, tx in enumerate(txs)} if explicit else {}
    last_writer: dict[str, int] = {}
    readers: dict[str, list[int]] = {}
    writer_of, readers_of = last_writer.get, readers.pop
    src: list[int] = []
    kind: list[int] = []
    acct: list[str | None] = []
    preds: list[int] = []
    pstart = [0]
    rstart = [0]
    add_src, add_kind, add_acct = src.append, kind.append, acct.append
    add_pred, add_pstart, add_rstart = preds.append, pstart.append, rstart.append
    for v in order:
        tx = txs[v]
        reads, writes = tx.reads, tx.writes
        if writes is reads and not (explicit and tx.after):
            # The common shapes (one or two accounts, each read and written, none read
            # since its last write): the last writer gives a RAW and a WAW conflict.
            if len(reads) == 1:
                (a,) = reads
                if a not in readers:
                    u = writer_of(a)
                    last_writer[a] = v
                    if u is not None:
                        src += (u, u)
                        kind += _RAW_WAW
                        acct += (a, a)
                        add_pred(u)
                    add_pstart(len(preds))
                    add_rstart(len(src))
                    continue
            elif len(reads) == 2:
                a, b = reads
                if b < a:
                    a, b = b, a
                if a not in readers and b not in readers:
                    ua, ub = writer_of(a), writer_of(b)
                    last_writer[a] = last_writer[b] = v
                    if ua is not None:
                        if ub is not None:
                            src += (ua, ub, ua, ub)
                            kind += _RAW_RAW_WAW_WAW
                            acct += (a, b, a, b)
                            if ua == ub:
                                add_pred(ua)
                            else:
                                preds += (ua, ub)
                        else:
                            src += (ua, ua)
                            kind += _RAW_WAW
                            acct += (a, a)
                            add_pred(ua)
                    elif ub is not None:
                        src += (ub, ub)
                        kind += _RAW_WAW
                        acct += (b, b)
                        add_pred(ub)
                    add_pstart(len(preds))
                    add_rstart(len(src))
                    continue
        first = len(src)
        read_order = sorted(reads) if len(reads) > 1 else reads
        for account in read_order:
            u = writer_of(account)
            if u is not None:
                add_src(u)
                add_kind(_RAW)
                add_acct(account)
        for account in read_order if writes is reads else sorted(writes) if len(writes) > 1 \
                else writes:
            for u in readers_of(account, ()):
                if u != v:
                    add_src(u)
                    add_kind(_WAR)
                    add_acct(account)
            u = writer_of(account)
            if u is not None:
                add_src(u)
                add_kind(_WAW)
                add_acct(account)
            last_writer[account] = v
        if writes is not reads:
            for account in reads - writes:
                readers.setdefault(account, []).append(v)
        for dep in tx.after:
            add_src(index[dep])
            add_kind(_EXPLICIT)
            add_acct(None)
        found = len(src) - first
        if found == 1:
            add_pred(src[first])
        elif found:
            preds.extend(dict.fromkeys(src[first:]))
        add_pstart(len(preds))
        add_rstart(len(src))
    return DependencyDag(batch, order, array("q", pstart), array("i", preds),
                         array("q", rstart), array("i", src), array("b", kind), acct)


def _serial_indices(batch: Batch) -> Sequence[int]:
    """The transactions in serial order (indices): ``range(len(batch))`` when every
    ``after`` names an earlier transaction, else the smallest-index-first topological order
    of the ``after`` edges. Raises :class:`CircularDependencyError` naming a cycle among
    them."""
    txs = batch.transactions
    if not any(tx.after for tx in txs):
        return range(len(txs))
    index = {tx.id: i for i, tx in enumerate(txs)}
    if all(index[dep] < i for i, tx in enumerate(txs) for dep in tx.after):
        return range(len(txs))
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
        order.append(u)
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


def serial_order(graph: Graph) -> list[str]:
    """The serial order: batch order, moved only as far as explicit dependencies require."""
    if isinstance(graph, DependencyDag):
        ids = graph.ids
        return [ids[v] for v in graph.order]
    serial = dict(graph.nodes(data="serial"))
    return sorted(serial, key=serial.__getitem__)


def independent_sets(graph: Graph) -> list[list[str]]:
    """Topological generations, each in serial order: each set's transactions are mutually
    independent."""
    if isinstance(graph, DependencyDag):
        name = graph.ids.__getitem__
        return [list(map(name, level)) for level in graph._levels]
    serial = dict(graph.nodes(data="serial"))
    return [sorted(g, key=serial.__getitem__) for g in nx.topological_generations(graph)]


def critical_path(graph: Graph, cost: dict[str, float] | None = None
                  ) -> tuple[list[str], float]:
    """The heaviest path through the DAG and its total cost.

    Node weights are ``cost`` (e.g. measured durations) or the estimated ``cost`` attribute.
    """
    if isinstance(graph, DependencyDag):
        return graph.critical_path(cost)
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


def parallelism_bound(graph: Graph, workers: int, cost: dict[str, float] | None = None
                      ) -> float:
    """min(workers, total work / critical-path work): the best speedup the DAG allows."""
    if isinstance(graph, DependencyDag):
        total = sum(graph.costs) if cost is None else sum(cost.values())
        _, longest = graph.critical_path(cost)
    else:
        weight = cost if cost is not None else {n: d["cost"]
                                                for n, d in graph.nodes(data=True)}
        total = sum(weight.values())
        _, longest = critical_path(graph, weight)
    return min(float(workers), total / longest) if longest > 0 else float(workers)


def plan_workers(dag: DependencyDag, workers: int, message_us: float = 0.0,
                 overhead_us: float = 0.0) -> tuple[list[int], float]:
    """A static plan of ``dag`` on ``workers`` workers by list scheduling: in serial order,
    each transaction goes to the worker where it can start first, given the estimated costs
    (:attr:`DependencyDag.costs`, plus ``overhead_us`` each), that a predecessor's end
    reaches another worker ``message_us`` later, and that a worker runs its transactions one
    after another. Returns the worker of each rank and the estimated makespan (µs)."""
    n = len(dag)
    rank_of, pstart, preds, costs, order = dag.rank, dag.pstart, dag.preds, dag.costs, dag.order
    where = [0] * n
    end = [0.0] * n
    free = [0.0] * workers
    span = range(workers)
    for r in range(n):
        latest = [-1.0] * workers  # per worker, its predecessors' latest end (-1: none)
        for u in preds[pstart[r]:pstart[r + 1]]:
            p = rank_of[u]
            if end[p] > latest[where[p]]:
                latest[where[p]] = end[p]
        first = second = -1.0
        top = -1
        for w in span:
            if latest[w] > first:
                second, first, top = first, latest[w], w
            elif latest[w] > second:
                second = latest[w]
        best, start = 0, float("inf")
        for w in span:
            elsewhere = second if w == top else first
            ready = max(latest[w], elsewhere + message_us if elsewhere >= 0 else 0.0, free[w])
            if ready < start:
                best, start = w, ready
        where[r] = best
        end[r] = free[best] = start + costs[order[r]] + overhead_us
    return where, max(free, default=0.0)


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


def conflict_report(batch: Batch, graph: Graph | None = None, top: int = 5
                    ) -> ConflictReport:
    """Count edges by type, find the hottest accounts, levels and the critical path."""
    graph = graph if graph is not None else dependency_dag(batch)
    if isinstance(graph, DependencyDag):
        by_type = graph.edges_by_type()
    else:
        counted: Counter[str] = Counter()
        for _, _, conflicts in graph.edges(data="conflicts"):
            counted.update(kind for kind, _ in conflicts)
        by_type = dict(counted)
    access = Counter(a for tx in batch.transactions for a in tx.accounts)
    levels = independent_sets(graph)
    path, cost = critical_path(graph)
    total = sum(tx.cost_us() for tx in batch.transactions)
    return ConflictReport(
        transactions=len(batch),
        edges=graph.number_of_edges(),
        edges_by_type=by_type,
        hot_accounts=sorted(((a, n) for a, n in access.items() if n > 1),
                            key=lambda an: (-an[1], an[0]))[:top],
        levels=len(levels),
        max_width=max((len(level) for level in levels), default=0),
        critical_path=path,
        critical_path_us=cost,
        parallelism_bound=total / cost if cost else 0.0,
    )
