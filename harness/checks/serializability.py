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
Cyclic: one cycle per class found is reported, the shortest of each, with every edge in
plain words and as data (:attr:`~harness.checks.verdict.Violation.edges`), in the order of
:data:`~harness.checks.anomalies.CYCLE_SPECS` (Adya's terms, as Elle names them): ``G0``
(only ww), ``G1c`` (ww and wr, at least one wr), ``G-single`` (exactly one rw), ``G2`` (two
or more rw), then the same with real-time edges (``G0-realtime`` … ``G2-realtime``:
serializable, but not strictly). Every edge is of one kind, data dependencies before real
time (an edge that is both ww and rt is ww), and a cycle is of the first class its edges'
kinds satisfy, so one cycle is never named twice: a ``G2`` has at least two rw edges (with
one it is a ``G-single``), a real-time class needs an edge that is real-time order only. So
a write skew in a run that also lost an update is a ``G2`` besides the lost update's
``G-single``. The search works only on the nodes the topological sort left: from each of up
to :data:`MAX_SOURCES` of them, one breadth-first search over (node, tally of the edge kinds
walked) finds the shortest cycle of every class through it.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Container

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
from harness.checks.columns import forward_in_commit_order
from harness.checks.facts import Facts, smallest_first_order
from harness.checks.verdict import SERIALIZABILITY, VALUES, Collector, Edge, Verdict, plural

MAX_SOURCES = 256
"""Bound on the breadth-first searches of a cycle search: among fewer nodes, the cycle of each
class is the shortest through any of them, unless every shortest walk of that class repeats
a node (two cycles of other classes joined at one node are not a cycle of a third)."""

NO_REAL_TIME = ("real-time order not checked: the timestamps are not on one clock (see "
                "isolation: clock problem)")


def check_serializability(facts: Facts) -> Verdict:
    """Build the serialization graph with real-time edges; witness order or the shortest
    cycle of each class found.

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
    realtime = facts.one_clock
    if forward_in_commit_order(facts.plain) if facts.plain is not None else \
            _forward_in_commit_order(facts):
        order = facts.commit_order
        how = "every ww, wr and rw edge goes forward in commit order" + \
            (", as real-time edges do" if realtime else "")
    else:
        order, rest = _topological_order(facts, realtime)
        if rest:
            _report_cycles(facts, rest, c)
        counts = Counter(edges(facts, realtime=False)[2])
        how = f"{counts[WW]} ww, {counts[WR]} wr and {counts[RW]} rw edges" + \
            (" with real-time order" if realtime else "")
    names = list(map(facts.ids.__getitem__, order))
    shown = ", ".join(names[:8]) + (", …" if len(names) > 8 else "")
    note = "" if realtime else NO_REAL_TIME
    return c.verdict(f"no cycle among {plural(len(names), 'committed transaction')} ({how}); "
                     f"witness serial order {shown or '(empty)'}{f'; {note}' if note else ''}",
                     witness=tuple(names), note=note)


def _forward_in_commit_order(facts: Facts) -> bool:
    """Whether every ww, wr and rw edge of :func:`edges` goes forward in commit order (no
    edge u → v with u's end after v's), judged without building the edges: an edge from a
    transaction to itself never goes backward, so it needs no exclusion here."""
    committed, index, end = facts.committed, facts.index, facts.end
    # (account, version) → the earliest end among the committed installs that replaced it
    following: dict[tuple[str, str], int] = {}
    get = following.get
    for _, t, account, _, replaced in facts.writes:
        if not committed[t]:
            continue
        e = end[t]
        key = (account, replaced)
        if get(key, e) >= e:
            following[key] = e
        if replaced != INIT:
            u = index.get(replaced)
            if u is not None and committed[u] and end[u] > e:
                return False
    for _, t, account, _, version in facts.reads:
        if not committed[t]:
            continue
        e = end[t]
        if version != INIT:
            u = index.get(version)
            if u is not None and committed[u] and end[u] > e:
                return False
        if get((account, version), e) < e:
            return False
    return True


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


def _report_cycles(facts: Facts, graph: dict[int, dict[int, int]], c: Collector) -> None:
    """Add to ``c`` one cycle per class found among ``graph`` (the nodes left by the
    topological sort), the shortest of each, in the order of :data:`CYCLE_SPECS`."""
    kinds = {u: {v: _label(mask, DATA | RT) for v, mask in out.items()}
             for u, out in graph.items()}
    found = _shortest_per_class(kinds)
    for spec in CYCLE_SPECS:
        cycle = found.get(spec.anomaly)
        if cycle is not None:
            _add(facts, kinds, c, spec, cycle)


def _label(mask: int, allowed: int) -> int:
    """The kind an edge is explained by: data dependencies before real time."""
    return next(bit for bit in (WW, WR, RW, RT) if mask & allowed & bit)


def _components(graph: dict[int, dict[int, int]]) -> list[set[int]]:
    """Strongly connected components with a cycle."""
    g = nx.DiGraph()
    g.add_edges_from((u, v) for u, out in graph.items() for v in out)
    return [s for s in nx.strongly_connected_components(g) if len(s) > 1]


def _count(tally: int, kind: int) -> int:
    """A tally of a walk's edges (see :data:`_CLASS_OF`) after one more edge of ``kind``."""
    wr, rw, rt = tally % 2, tally // 2 % 3, tally // 6
    if kind == WR:
        wr = 1
    elif kind == RW:
        rw = min(rw + 1, 2)
    elif kind == RT:
        rt = 1
    return wr + 2 * rw + 6 * rt


_AFTER = tuple({kind: _count(tally, kind) for kind in (WW, WR, RW, RT)} for tally in range(12))
""":func:`_count` as a table: ``_AFTER[tally][kind]``."""


_CLASS_OF = tuple(
    cycle_anomaly([WW, *[WR] * (tally % 2), *[RW] * (tally // 2 % 3), *[RT] * (tally // 6)])
    .anomaly for tally in range(12))
"""The class of a cycle by the tally of its edges' kinds, ``wr + 2 * rw + 6 * rt``: whether
it has a wr edge (0 or 1), how many rw edges (0, 1, or 2 for two or more) and whether it has
an rt edge (edges are of the kind :func:`_label` gives them, so an edge that is both a data
dependency and real-time order is a data dependency). ww edges never change a class: a cycle
of ww edges only is a ``G0``."""
_NEEDS = {anomaly: tuple(min(need) for need in zip(*(
    (tally % 2, tally // 2 % 3, tally // 6) for tally in range(12)
    if _CLASS_OF[tally] == anomaly), strict=True)) for anomaly in set(_CLASS_OF)}
"""Per class, the fewest wr, rw and rt edges a cycle of it has."""
_SHORTEST = {anomaly: max(2, sum(need)) for anomaly, need in _NEEDS.items()}
"""Per class, the length of its shortest possible cycle."""
_SPECS = {spec.anomaly: spec for spec in CYCLE_SPECS}


def _shortest_per_class(kinds: dict[int, dict[int, int]]) -> dict[str, list[int]]:
    """Per class, the shortest cycle found (its nodes in order), searching from up to
    :data:`MAX_SOURCES` nodes of the strongly connected components, for the classes each
    may hold (:func:`_possible`), until each has a cycle as short as its class allows."""
    best: dict[str, list[int]] = {}
    tried = 0
    for component in sorted(_components(kinds), key=len):
        possible = _possible(kinds, component)
        for source in sorted(component):
            wanted = {a for a in possible
                      if a not in best or len(best[a]) > _SHORTEST[a]}
            if not wanted:
                break
            if tried >= MAX_SOURCES:
                return best
            tried += 1
            _search_from(kinds, source, component, wanted, best)
    return best


def _possible(kinds: dict[int, dict[int, int]], component: set[int]) -> set[str]:
    """The classes ``component`` may hold a cycle of: those for which the edges of the kinds
    the class may use have a strongly connected component with as many wr, rw and rt edges
    as a cycle of the class needs (for ``G0``, ``G1c`` and ``G0-realtime``, exactly those
    it holds a cycle of)."""
    possible = set()
    for anomaly, need in _NEEDS.items():
        allowed = _SPECS[anomaly].allowed
        g = nx.DiGraph()
        g.add_edges_from((u, v, {"kind": k}) for u in component for v, k in kinds[u].items()
                         if v in component and k & allowed)
        for scc in nx.strongly_connected_components(g):
            if len(scc) < 2:
                continue
            have = Counter(k for _, v, k in g.subgraph(scc).edges(data="kind"))
            if have[WR] >= need[0] and have[RW] >= need[1] and have[RT] >= need[2]:
                possible.add(anomaly)
                break
    return possible


def _useful(wanted: set[str]) -> list[bool]:
    """Per tally, whether a walk with it may still become a cycle of a ``wanted`` class
    (tallies only grow)."""
    return [any(_CLASS_OF[later] in wanted for later in range(12)
                if later % 2 >= tally % 2 and later // 2 % 3 >= tally // 2 % 3
                and later // 6 >= tally // 6) for tally in range(12)]


def _search_from(kinds: dict[int, dict[int, int]], source: int, within: set[int],
                 wanted: set[str], best: dict[str, list[int]]) -> None:
    """Improve ``best`` with the shortest cycles through ``source`` inside ``within`` of the
    ``wanted`` classes that repeat no node: one breadth-first search over (node, tally of the
    walk's edge kinds) from ``source``, so that the first walk back to ``source`` with each
    tally is the shortest with it. A shortest walk of a class that repeats a node (two
    cycles of other classes joined at that node) is no cycle of that class and is passed
    over. The search stops when no wanted class can get a shorter cycle from it."""
    useful = _useful(wanted)
    parent: dict[tuple[int, int], tuple[int, int]] = {}
    queue = deque([(source, 0, 0)])
    limit = _limit(wanted, best)
    while queue:
        u, tally, depth = queue.popleft()
        if depth + 1 >= limit:
            return
        counted = _AFTER[tally]
        for v, kind in kinds[u].items():
            if v not in within:
                continue
            after = counted[kind]
            if not useful[after]:
                continue
            if v != source:
                if (v, after) not in parent:
                    parent[(v, after)] = (u, tally)
                    queue.append((v, after, depth + 1))
                continue
            anomaly = _CLASS_OF[after]
            if anomaly not in wanted or (anomaly in best and len(best[anomaly]) <= depth + 1):
                continue
            walk = _walk(parent, (u, tally), source)
            if len(set(walk)) < len(walk):
                continue
            best[anomaly] = walk
            if depth + 1 <= _SHORTEST[anomaly]:
                wanted = wanted - {anomaly}
                if not wanted:
                    return
                useful = _useful(wanted)
            limit = _limit(wanted, best)


def _limit(wanted: set[str], best: dict[str, list[int]]) -> float:
    """The length from which no cycle improves on ``best`` for any ``wanted`` class."""
    return max((len(best[a]) if a in best else float("inf") for a in wanted), default=0)


def _walk(parent: dict[tuple[int, int], tuple[int, int]], state: tuple[int, int],
          source: int) -> list[int]:
    """The nodes of the walk from ``source`` to ``state``, in order."""
    walk = [state[0]]
    while state != (source, 0):
        state = parent[state]
        walk.append(state[0])
    walk.reverse()
    return walk


def _pairs(cycle: list[int]) -> list[tuple[int, int]]:
    return list(zip(cycle, cycle[1:] + cycle[:1], strict=True))


def _add(facts: Facts, kinds: dict[int, dict[int, int]], c: Collector, spec: CycleSpec,
         cycle: list[int]) -> None:
    """Add ``cycle`` (of class ``spec``) to ``c``: every edge in plain words and as data."""
    ids = facts.ids
    members = set(cycle)
    reads = [r for r in facts.reads if r[1] in members]
    writes = [w for w in facts.writes if w[1] in members]
    details, accounts, edges = [], [], []
    labels = []
    for u, v in _pairs(cycle):
        label = kinds[u][v]
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
