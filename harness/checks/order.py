"""Dependency order: for every DAG edge u → v, u ended (COMMIT or ABORT) before v started.

The edges are those of :func:`harness.checks.facts.dependencies` (walked inline here), the
checker's own per-account index over the batch, not from the engine's analysis. A
transaction that never started constrains nothing (a retried one started at its first
attempt); one that started although a predecessor never finished is a violation. Not judged
when the timestamps are not on one clock (isolation reports the clock problem): which of two
events came first cannot then be told; nor under ``--order any``, where no batch order is promised.
"""

from __future__ import annotations

from harness.checks.anomalies import DEPENDENCY, EARLY_START
from harness.checks.columns import order_edges
from harness.checks.facts import EXPLICIT, RAW, WAR, WAW, Facts, describe_dependency
from harness.checks.verdict import ORDER, Collector, Edge, Verdict, plural


def check_order(facts: Facts) -> Verdict:
    """Every dependency's end precedes its dependant's START in the trace."""
    c = Collector(ORDER)
    if not facts.one_clock:
        return c.verdict("not judged: the timestamps are not on one clock (see isolation: "
                         "clock problem), so whether each predecessor ended before its "
                         "dependant started cannot be told", applicable=False)
    start, end = facts.began, facts.end
    edges = order_edges(facts, facts.declared)
    if edges is not None:
        return c.verdict(f"for all {plural(edges, 'dependency edge')}, the predecessor ended "
                         f"before the dependant started "
                         f"({plural(len(start) - start.count(-1), 'transaction')} started)")
    edges = 0
    marked = [-1] * len(start)
    late: list[tuple[int, int, str, str | None]] = []
    # dependencies(facts.batch, facts.order), inlined (this is the hot path): each distinct
    # edge u → v is counted once, and kept if u did not end before v started
    txs = facts.batch.transactions
    index: dict[str, int] | None = None
    last_writer: dict[str, int] = {}
    readers: dict[str, list[int]] = {}
    for v in facts.order:
        tx = txs[v]
        sv = start[v]
        reads, writes = tx.reads, tx.writes
        for account in sorted(reads) if len(reads) > 1 else reads:
            u = last_writer.get(account)
            if u is not None and marked[u] != v:
                marked[u] = v
                edges += 1
                if sv >= 0 and not 0 <= end[u] < sv:
                    late.append((u, v, RAW, account))
        for account in sorted(writes) if len(writes) > 1 else writes:
            for u in readers.pop(account, ()):
                if marked[u] != v:
                    marked[u] = v
                    edges += 1
                    if sv >= 0 and not 0 <= end[u] < sv:
                        late.append((u, v, WAR, account))
            u = last_writer.get(account)
            if u is not None and marked[u] != v:
                marked[u] = v
                edges += 1
                if sv >= 0 and not 0 <= end[u] < sv:
                    late.append((u, v, WAW, account))
            last_writer[account] = v
        if reads:
            for account in reads - writes if writes else reads:
                readers.setdefault(account, []).append(v)
        if tx.after:
            if index is None:
                index = {other.id: i for i, other in enumerate(txs)}
            for dep in tx.after:
                u = index[dep]
                if marked[u] != v:
                    marked[u] = v
                    edges += 1
                    if sv >= 0 and not 0 <= end[u] < sv:
                        late.append((u, v, EXPLICIT, None))
    for u, v, kind, account in late:
        _early_start(facts, c, u, v, kind, account)
    started = sum(s >= 0 for s in start)
    return c.verdict(f"for all {plural(edges, 'dependency edge')}, the predecessor ended "
                     f"before the dependant started ({plural(started, 'transaction')} started)")


def _early_start(facts: Facts, c: Collector, u: int, v: int, kind: str, account: str | None
                 ) -> None:
    """``v`` started before ``u``, which it depends on, ended."""
    ids, eu, sv = facts.ids, facts.end[u], facts.began[v]
    why = describe_dependency(kind, account, ids[u], ids[v])
    if eu < 0:
        when = f"{ids[u]} never finished"
    else:
        when = f"{ids[u]} finished only at {facts.at(eu)}"
    c.add(EARLY_START, f"{ids[v]} started at {facts.at(sv)}, but it depends on {ids[u]} "
          f"({why}) and {when}", txns=(ids[u], ids[v]),
          accounts=(account,) if account else (),
          edges=(Edge(ids[u], ids[v], DEPENDENCY, account),))
