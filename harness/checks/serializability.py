"""Strict serializability: the direct serialization graph plus real-time order is acyclic.

Nodes are the committed transactions. Edges, from the versions the trace records:

* ``ww`` T1 → T2: T2's install of an account replaced the version T1 installed;
* ``wr`` T1 → T2: T2 read a version T1 installed;
* ``rw`` T1 → T2: T1 read a version of an account and T2 installed the next one
  (an anti-dependency: T1 did not see T2's write, so T1 must come first);
* ``rt`` T1 → T2: T1 committed before T2 started. Only a transitive reduction is kept
  (a frontier of recent commits, as Elle does), so these edges stay linear in number.
  None when the timestamps are not on one clock (isolation reports the clock problem):
  only serializability is then judged, and the verdict says so.

Without recorded versions there is no ww, wr or rw edge, and real-time edges alone form no
cycle: the property is not judged (``N/A``), and linearizability (values) judges the same
claim from the values read and installed.

Acyclic: a witness serial order is commit order when every data edge goes forward in it
(the fast path, which needs no graph), else a topological order (smallest batch index
first).
Cyclic: the shortest cycle is reported with every edge in plain words and classified in
Adya's terms by :data:`~harness.checks.anomalies.CYCLE_SPECS`, searching as Elle does: each
data-only spec in turn (``G0``: only ww; ``G1c``: ww and wr; ``G-single``: exactly one rw;
``G2``: two or more rw), then the shortest cycle over every edge, named by the first spec its
edges satisfy (``G0-realtime`` … ``G2-realtime``: serializable, but not strictly).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Container
from operator import gt

import networkx as nx

from aethel.trace import INIT
from harness.checks.anomalies import (
    CATALOGUE,
    CYCLE_SPECS,
    DATA,
    EDGE_KINDS,
    RT,
    RW,
    WR,
    WW,
    CycleSpec,
    cycle_anomaly,
)
from harness.checks.facts import Facts, smallest_first_order
from harness.checks.verdict import SERIALIZABILITY, VALUES, Collector, Edge, Verdict, plural

MAX_SOURCES = 256
"""Bound on the breadth-first searches per cycle search (exact for cycles among fewer nodes)."""

NO_REAL_TIME = ("real-time order not checked: the timestamps are not on one clock (see "
                "isolation: clock problem)")


def check_serializability(facts: Facts) -> Verdict:
    """Build the serialization graph with real-time edges; witness order or shortest cycle.

    Fast path: real-time edges always go forward in commit order, so if every data edge
    does too, commit order is a witness and the graph is acyclic without building it."""
    c = Collector(SERIALIZABILITY)
    why = facts.unversioned
    if why is not None:
        if facts.missing_version is not None:
            why += " (see isolation: trace integrity)"
        return c.verdict(f"not judged: {why}, so the serialization graph has no ww, wr or rw "
                         f"edge: {VALUES} judges the values read and installed against "
                         "real-time order instead", applicable=False)
    end, realtime = facts.end, facts.one_clock
    us, vs, kinds = edges(facts, realtime=False)
    if not any(map(gt, map(end.__getitem__, us), map(end.__getitem__, vs))):
        order = sorted((t for t, ok in enumerate(facts.committed) if ok), key=end.__getitem__)
        how = "every ww, wr and rw edge goes forward in commit order" + \
            (", as real-time edges do" if realtime else "")
    else:
        order, rest = _topological_order(facts, realtime)
        if rest:
            _report_cycle(facts, rest, c)
        counts = Counter(kinds)
        how = f"{counts[WW]} ww, {counts[WR]} wr and {counts[RW]} rw edges" + \
            (" with real-time order" if realtime else "")
    names = [facts.ids[t] for t in order]
    shown = ", ".join(names[:8]) + (", …" if len(names) > 8 else "")
    note = "" if realtime else NO_REAL_TIME
    return c.verdict(f"no cycle among {plural(len(names), 'committed transaction')} ({how}); "
                     f"witness serial order {shown or '(empty)'}{f'; {note}' if note else ''}",
                     witness=tuple(names), note=note)


def _topological_order(facts: Facts, realtime: bool
                       ) -> tuple[list[int], dict[int, dict[int, int]]]:
    """Kahn's algorithm (smallest batch index first) over every edge (real-time ones only if
    ``realtime``): the order, and the edges (kind masks) among the transactions it could not
    order (empty if acyclic)."""
    committed = facts.committed
    n = len(committed)
    us, vs, kinds = edges(facts, realtime)
    succ: list[list[int]] = [[] for _ in range(n)]
    indeg = [0] * n
    for u, v in zip(us, vs, strict=True):
        succ[u].append(v)
        indeg[v] += 1
    nodes = [t for t in range(n) if committed[t]]
    order = smallest_first_order(nodes, succ, indeg)
    done = set(order)
    rest: dict[int, dict[int, int]] = {t: {} for t in nodes if t not in done}
    if rest:
        for u, v, kind in zip(us, vs, kinds, strict=True):
            if u in rest and v in rest:
                rest[u][v] = rest[u].get(v, 0) | kind
    return order, rest


def edges(facts: Facts, realtime: bool, starting: Container[int] = ()
          ) -> tuple[list[int], list[int], list[int]]:
    """Every edge u → v as three columns (u, v, kind); real-time edges only if ``realtime``,
    also into the transactions of ``starting`` (which did not commit) from what committed
    before they started. An edge may repeat, once per account and kind."""
    committed, index = facts.committed, facts.index
    us: list[int] = []
    vs: list[int] = []
    kinds: list[int] = []
    add_u, add_v, add_kind = us.append, vs.append, kinds.append
    following: dict[tuple[str, str], list[int]] = {}
    for _, t, account, _, replaced in facts.writes:
        if not committed[t]:
            continue
        key = (account, replaced)
        installers = following.get(key)
        if installers is None:
            following[key] = [t]
        else:
            installers.append(t)
        if replaced != INIT:
            u = index.get(replaced)
            if u is not None and u != t and committed[u]:
                add_u(u)
                add_v(t)
                add_kind(WW)
    for _, t, account, _, version in facts.reads:
        if not committed[t]:
            continue
        if version != INIT:
            u = index.get(version)
            if u is not None and u != t and committed[u]:
                add_u(u)
                add_v(t)
                add_kind(WR)
        for w in following.get((account, version), ()):
            if w != t:
                add_u(t)
                add_v(w)
                add_kind(RW)
    if realtime:
        frontier: set[int] = set()
        preds: dict[int, tuple[int, ...]] = {}
        for code in facts.boundaries:
            if code >= 0:
                if code in starting:
                    us.extend(frontier)
                    vs.extend([code] * len(frontier))
                    kinds.extend([RT] * len(frontier))
                elif committed[code] and frontier:
                    preds[code] = tuple(frontier)
                continue
            t = ~code
            before = preds.pop(t, ())
            us.extend(before)
            vs.extend([t] * len(before))
            kinds.extend([RT] * len(before))
            frontier.difference_update(before)
            frontier.add(t)
    return us, vs, kinds


def _report_cycle(facts: Facts, graph: dict[int, dict[int, int]], c: Collector) -> None:
    """Find the most telling shortest cycle among ``graph`` (the nodes left by the
    topological sort) and add it to ``c``: the first data-only spec a cycle is found for,
    else the shortest cycle over every edge, named by its edges' kinds."""
    for spec in CYCLE_SPECS:
        if spec.realtime:
            continue
        cycle = _single(graph, spec) if spec.single else _shortest_cycle(graph, spec.kinds)
        if cycle:
            _add(facts, graph, c, spec, cycle)
            return
    cycle = _shortest_cycle(graph, DATA | RT)
    _add(facts, graph, c, cycle_anomaly([_label(graph[u][v], DATA | RT)
                                         for u, v in _pairs(cycle)]), cycle)


def _pairs(cycle: list[int]) -> list[tuple[int, int]]:
    return list(zip(cycle, cycle[1:] + cycle[:1], strict=True))


def _label(mask: int, allowed: int) -> int:
    """The kind an edge is explained by: data dependencies before real time."""
    return next(bit for bit in (WW, WR, RW, RT) if mask & allowed & bit)


def _components(graph: dict[int, dict[int, int]], allowed: int) -> list[set[int]]:
    """Strongly connected components with a cycle, using only ``allowed`` edges."""
    g = nx.DiGraph()
    g.add_edges_from((u, v) for u, out in graph.items() for v, m in out.items() if m & allowed)
    return [s for s in nx.strongly_connected_components(g) if len(s) > 1]


def _path(graph: dict[int, dict[int, int]], source: int, target: int, allowed: int,
          within: set[int]) -> list[int] | None:
    """Shortest path source ⇝ target over ``allowed`` edges inside ``within`` (BFS). With
    ``target == source`` it is the shortest cycle through ``source``, without repeating it."""
    parent = {source: source}
    queue = deque([source])
    while queue:
        u = queue.popleft()
        for v, mask in graph[u].items():
            if not mask & allowed or v not in within:
                continue
            if v == target:
                path = [u]
                while path[-1] != source:
                    path.append(parent[path[-1]])
                path.reverse()
                return path if target == source else [*path, target]
            if v not in parent:
                parent[v] = u
                queue.append(v)
    return None


def _shortest_cycle(graph: dict[int, dict[int, int]], allowed: int) -> list[int] | None:
    """The shortest cycle over ``allowed`` edges (exact up to :data:`MAX_SOURCES` nodes)."""
    best: list[int] | None = None
    tried = 0
    for component in sorted(_components(graph, allowed), key=len):
        for source in sorted(component):
            if tried >= MAX_SOURCES or (best is not None and len(best) == 2):
                return best
            tried += 1
            cycle = _path(graph, source, source, allowed, component)
            if cycle and (best is None or len(cycle) < len(best)):
                best = cycle
    return best


def _single(graph: dict[int, dict[int, int]], spec: CycleSpec) -> list[int] | None:
    """The shortest cycle with exactly one edge of ``spec.single`` (G-single: one rw edge):
    such an edge a → b closed by a path b ⇝ a of ``spec.kinds`` edges."""
    best: list[int] | None = None
    tried = 0
    for component in sorted(_components(graph, spec.allowed), key=len):
        for a in sorted(component):
            for b, mask in graph[a].items():
                if not mask & spec.single or b not in component or tried >= MAX_SOURCES:
                    continue
                tried += 1
                path = _path(graph, b, a, spec.kinds, component)
                if path and (best is None or len(path) < len(best)):
                    best = path
    return best


def _add(facts: Facts, graph: dict[int, dict[int, int]], c: Collector, spec: CycleSpec,
         cycle: list[int]) -> None:
    ids = facts.ids
    members = set(cycle)
    reads = [r for r in facts.reads if r[1] in members]
    writes = [w for w in facts.writes if w[1] in members]
    details, accounts, edges = [], [], []
    labels = []
    for u, v in _pairs(cycle):
        label = _label(graph[u][v], spec.allowed)
        text, account = _explain(facts, reads, writes, label, u, v)
        labels.append((label, account))
        edges.append(Edge(ids[u], ids[v], EDGE_KINDS[label], account))
        details.append(f"{ids[u]} → {ids[v]} ({EDGE_KINDS[label]}): {text}")
        if account and account not in accounts:
            accounts.append(account)
    names = [ids[t] for t in cycle]
    summary = f"{' → '.join([*names, names[0]])} is {CATALOGUE[spec.shape].description}"
    if spec.realtime:
        summary += "; the cycle needs real-time order, so no serial order respects it"
    if len(cycle) == 2 and {lab for lab, _ in labels} == {RW, WW} and labels[0][1] == labels[1][1]:
        summary += f" — a lost update on {labels[0][1]}"
    c.add(spec.anomaly, summary, tuple(names), tuple(accounts), tuple(details), tuple(edges))


def _explain(facts: Facts, reads: list[tuple[int, int, str, int, str]],
             writes: list[tuple[int, int, str, int, str]], label: int, u: int, v: int
             ) -> tuple[str, str | None]:
    """One edge in plain words, with the account it concerns."""
    ids = facts.ids
    a, b = ids[u], ids[v]
    if label == WW:
        account = next(w[2] for w in writes if w[1] == v and w[4] == a)
        return f"{b} overwrote {a}'s write: its install of {account} replaced {account}@{a}", \
            account
    if label == WR:
        account = next(r[2] for r in reads if r[1] == v and r[4] == a)
        return f"{b} read {account}@{a}, the version {a} installed", account
    if label == RW:
        installed = {(w[2], w[4]) for w in writes if w[1] == v}
        account, version = next((r[2], r[4]) for r in reads if r[1] == u
                                and (r[2], r[4]) in installed)
        return (f"{a} read {account}@{version}, but {b} installed the next version "
                f"{account}@{b}: {a} did not see {b}'s write"), account
    return (f"{a} committed at {facts.at(facts.end[u])}, before {b} started at "
            f"{facts.at(facts.start[v])}"), None
