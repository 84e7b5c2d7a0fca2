"""Dependency order: for every DAG edge u → v, u ended (COMMIT or ABORT) before v started.

The edges come from :func:`harness.checks.facts.dependencies`, the checker's own
per-account index over the batch, not from the engine's analysis. A transaction that never
started constrains nothing (a retried one started at its first attempt); one that started
although a predecessor never finished is a violation. Not judged when the timestamps are
not on one clock (isolation reports the clock problem): which of two events came first
cannot then be told; nor under ``--order any``, where no batch order is promised.
"""

from __future__ import annotations

from harness.checks.anomalies import DEPENDENCY, EARLY_START
from harness.checks.facts import Facts, dependencies, describe_dependency
from harness.checks.verdict import ORDER, Collector, Edge, Verdict, plural


def check_order(facts: Facts) -> Verdict:
    """Every dependency's end precedes its dependant's START in the trace."""
    c = Collector(ORDER)
    if not facts.one_clock:
        return c.verdict("not judged: the timestamps are not on one clock (see isolation: "
                         "clock problem), so whether each predecessor ended before its "
                         "dependant started cannot be told", applicable=False)
    start, end, ids = facts.began, facts.end, facts.ids
    edges = 0
    marked = [-1] * len(ids)
    for u, v, kind, account in dependencies(facts.batch, facts.order):
        if marked[u] == v:
            continue
        marked[u] = v
        edges += 1
        sv = start[v]
        if sv < 0:
            continue
        eu = end[u]
        if 0 <= eu < sv:
            continue
        why = describe_dependency(kind, account, ids[u], ids[v])
        if eu < 0:
            when = f"{ids[u]} never finished"
        else:
            when = f"{ids[u]} finished only at {facts.at(eu)}"
        c.add(EARLY_START, f"{ids[v]} started at {facts.at(sv)}, but it depends on {ids[u]} "
              f"({why}) and {when}", txns=(ids[u], ids[v]),
              accounts=(account,) if account else (),
              edges=(Edge(ids[u], ids[v], DEPENDENCY, account),))
    started = sum(s >= 0 for s in start)
    return c.verdict(f"for all {plural(edges, 'dependency edge')}, the predecessor ended "
                     f"before the dependant started ({plural(started, 'transaction')} started)")
