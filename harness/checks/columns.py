"""The engine's trace as columns: a fast path for the checkers, exact or not taken at all.

An engine result's trace is recorded as columns (:class:`~aethel.trace.TraceColumns`).
:class:`RecordedTrace` hands it to :class:`~harness.checks.facts.Facts` without building an
:class:`~aethel.trace.Event` per event, and :func:`scan` indexes it with numpy when the
trace is *plain*: every transaction with events has one START, first, and one COMMIT or
ABORT, last; every READ and WRITE records its version, of a known transaction or ``init``,
and an integer value, of an account of the batch, at most once per transaction; every READ
saw the version serial order gives it; and nothing in the trace could be evidence that its
timestamps are not on one clock (no stretch without a running transaction, and no READ
before the START of its version's writer, longer than
:data:`~harness.checks.facts.CLOCK_SLACK`). Anything else is indexed by the general path,
from the events. The ``*_clean`` tests here decide, for plain facts, that a checker finds
nothing (its verdict is then its holding one); when they cannot tell, the checker runs its
general path.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from aethel.executor import ExecutionResult
from aethel.trace import (
    ABORT,
    ABORT_CODE,
    COMMIT,
    COMMIT_CODE,
    INIT,
    READ_CODE,
    START_CODE,
    WRITE_CODE,
    Event,
    TraceColumns,
)

if TYPE_CHECKING:
    from harness.checks.facts import Facts


class RecordedTrace(Sequence[Event]):
    """An engine result's trace: a sequence of events built on first use (by the result,
    which keeps them), and the recorder's columns while no event was built."""

    def __init__(self, result: ExecutionResult) -> None:
        self._result = result

    def columns(self) -> tuple[TraceColumns, Sequence[str]] | None:
        """(columns, transaction names) while the events were never built (so nothing can
        have changed them), else None."""
        if "_execution_trace" in vars(self._result):
            return None
        return self._result.recorder.column_view()

    def _events(self) -> list[Event]:
        return self._result.execution_trace

    def __len__(self) -> int:
        if "_execution_trace" in vars(self._result):
            return len(self._events())
        return len(self._result.recorder)

    @overload
    def __getitem__(self, i: int) -> Event: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Event]: ...

    def __getitem__(self, i: int | slice) -> Event | Sequence[Event]:
        return self._events()[i]

    def __iter__(self) -> Iterator[Event]:
        return iter(self._events())


@dataclass
class Plain:
    """A plain trace as arrays (positions in time order, transactions by batch index,
    accounts by their index in the batch's accounts, versions by transaction, ``-1`` for
    ``init``), and the original objects the lazy attributes of :class:`Facts` are built
    from."""

    columns: TraceColumns
    names: Sequence[str]
    perm: Any
    ts: Any
    start: Any
    end: Any
    committed: Any
    rank: Any
    rp: Any
    rt: Any
    ra: Any
    rv: Any
    rver: Any
    wp: Any
    wt: Any
    wa: Any
    wv: Any
    wrep: Any
    expected: Any
    expected_write: Any
    previous: Any
    following: Any
    replaced_previous: bool
    read_rows: list[int]
    write_rows: list[int]
    read_accounts: list[str]
    write_accounts: list[str]
    read_versions: list[str]
    write_versions: list[str]

    def rows(self, reads: bool) -> list[tuple[int, int, str, int, str]]:
        """:attr:`Facts.reads` (or :attr:`Facts.writes`) built from the recorded objects."""
        value = self.columns.value
        if reads:
            p, t, rows, accounts, versions = (self.rp, self.rt, self.read_rows,
                                              self.read_accounts, self.read_versions)
        else:
            p, t, rows, accounts, versions = (self.wp, self.wt, self.write_rows,
                                              self.write_accounts, self.write_versions)
        return list(zip(p.tolist(), t.tolist(), accounts, _pick(value, rows), versions,
                        strict=True))

    def events(self) -> list[Event]:
        """The events in time order (as the recorder gives them)."""
        events = self.columns.events(self.names)
        return list(map(events.__getitem__, self.perm.tolist()))


def _ints(values: list[Any]) -> Any:
    """``values`` as an int64 array, or None unless every one is an int that fits (a bool
    counts as the int it equals)."""
    try:
        found = np.array(values)
    except OverflowError:
        return None
    if values and found.dtype != np.int64:
        return None
    return found.astype(np.int64, copy=False)


def _codes(names: Sequence[Any], code: dict[str, int]) -> Any:
    """``names`` by their ``code``, or None if one has none."""
    try:
        return np.fromiter(map(code.__getitem__, names), np.int64, len(names))
    except (KeyError, TypeError):
        return None


def _pick(items: list[Any], rows: list[int]) -> list[Any]:
    """``items`` at ``rows``."""
    if len(rows) < 2:
        return [items[r] for r in rows]
    return list(itemgetter(*rows)(items))


def _ascending(query: Any) -> tuple[Any, Any]:
    """The order that sorts ``query``, and ``query`` in it (for :func:`_search`)."""
    order = np.argsort(query)
    return order, query[order]


def _search(keys: Any, query: Any, side: str = "left",
            ascending: tuple[Any, Any] | None = None) -> Any:
    """``np.searchsorted(keys, query, side)``, searching for the queries in ascending order
    (several times faster on large arrays, sorting included; ``ascending``: the sort, by
    :func:`_ascending`, when the caller has it)."""
    if ascending is None:
        if query.size < 1024:
            return np.searchsorted(keys, query, side=side)
        ascending = _ascending(query)
    order, ordered = ascending
    found = np.empty(query.shape, dtype=np.int64)
    found[order] = np.searchsorted(keys, ordered, side=side)
    return found


def _idle_stretch(ts: Any, start: Any, end: Any, longer: int) -> bool:
    """Whether, between the spans from ``start`` to ``end`` (positions in the timestamps
    ``ts``, one span per transaction), there is a stretch with none running longer than
    ``longer``."""
    order = np.argsort(start, kind="stable")
    reach = np.maximum.accumulate(end[order])
    after = start[order][1:]
    idle = after > reach[:-1]
    return bool(np.any(ts[after[idle]] - ts[reach[:-1][idle]] > longer))


def _unique(keys: Any) -> bool:
    """Whether no two of ``keys`` are equal."""
    ordered = np.sort(keys)
    return not np.any(ordered[1:] == ordered[:-1])


_ROWS = ("kind", "txn", "worker", "pid", "account", "value", "version")
"""The columns holding one entry per row (as ``ts`` does)."""


def scan(facts: Facts, columns: TraceColumns, names: Sequence[str], serial: list[int]
         ) -> dict[str, Any] | None:
    """The attributes :class:`Facts` indexes a plain trace to (with ``plain``: the
    :class:`Plain` arrays), against serial order ``serial``; None if the trace is not
    plain."""
    from harness.checks.facts import CLOCK_SLACK

    n, m, index = len(facts.ids), len(columns), facts.index
    if not m or INIT in index or any(len(getattr(columns, name)) != m for name in _ROWS):
        return None
    same = list(names) == facts.ids
    tmap = None if same else _codes(names, index)
    if tmap is None and not same:
        return None
    raw_ts = np.array(columns.ts, dtype=np.int64)
    kind = np.frombuffer(columns.kind, dtype=np.int8)
    txn = np.array(columns.txn, dtype=np.int64)
    if txn.min() < 0 or txn.max() >= len(names) or kind.min() < 0 or kind.max() > ABORT_CODE:
        return None
    perm = np.argsort(raw_ts, kind="stable")
    ts = raw_ts[perm]
    long = int(ts[-1]) - int(ts[0]) > CLOCK_SLACK  # long enough for clock evidence
    k, t = kind[perm], txn[perm] if same else tmap[txn[perm]]
    pos = np.arange(m)
    is_start, is_commit = k == START_CODE, k == COMMIT_CODE
    is_end = is_commit | (k == ABORT_CODE)
    starts = np.bincount(t[is_start], minlength=n)
    ends = np.bincount(t[is_end], minlength=n)
    has = np.bincount(t, minlength=n) > 0
    if np.any(has & ((starts != 1) | (ends != 1))):
        return None
    start = np.full(n, -1, dtype=np.int64)
    start[t[is_start]] = pos[is_start]
    end = np.full(n, -1, dtype=np.int64)
    end[t[is_end]] = pos[is_end]
    if np.any(pos < start[t]) or np.any(pos > end[t]):
        return None
    if long and _idle_stretch(ts, start[has], end[has], CLOCK_SLACK):
        return None
    committed = np.zeros(n, dtype=bool)
    committed[t[is_commit]] = True
    rp, wp = np.flatnonzero(k == READ_CODE), np.flatnonzero(k == WRITE_CODE)
    rt, wt = t[rp], t[wp]
    read_rows, write_rows = perm[rp].tolist(), perm[wp].tolist()
    account, value, version = columns.account, columns.value, columns.version
    read_accounts, write_accounts = _pick(account, read_rows), _pick(account, write_rows)
    read_versions, write_versions = _pick(version, read_rows), _pick(version, write_rows)
    acode = {a: i for i, a in enumerate(facts.batch.accounts)}
    read_values, write_values = _pick(value, read_rows), _pick(value, write_rows)
    arrays = (_codes(read_accounts, acode), _codes(write_accounts, acode),
              _ints(read_values), _ints(write_values))
    if any(a is None for a in arrays):
        return None
    ra, wa, rv, wv = arrays
    na = max(len(acode), 1)
    if not _unique(wt * na + wa):
        return None
    serial_arr = np.array(serial, dtype=np.int64)
    rank = np.empty(n, dtype=np.int64)
    rank[serial_arr] = np.arange(n)
    # every READ saw the last committed writer of the account preceding it in serial order
    cw = np.flatnonzero(committed[wt])
    keys = wa[cw] * n + rank[wt[cw]]
    by_key = np.argsort(keys)
    keys = keys[by_key]
    query = ra * n + rank[rt]
    ascending = _ascending(query)
    ordered = ascending[1]
    if np.any(ordered[1:] == ordered[:-1]):
        return None  # two READs of one account by one transaction
    before = np.maximum(_search(keys, query, ascending=ascending) - 1, 0)
    found = keys[before] if keys.size else np.zeros_like(query)
    hit = (query > found) & (found // n == ra) if keys.size else found > 0
    expected = np.where(hit, serial_arr[found % n] if keys.size else -1, -1)
    expected_write = np.where(hit, cw[by_key[before]] if keys.size else -1, -1)
    version_names = [*facts.ids, INIT]  # -1: init
    if read_versions != _pick(version_names, expected.tolist()):
        return None
    written = expected >= 0
    if long and np.any(ts[start[expected[written]]] - ts[rp[written]] > CLOCK_SLACK):
        return None  # a READ long before its version's writer started
    rver = expected
    # each install's account: the install before it in time order (-1: none)
    by_account = np.lexsort((wp, wa))
    grouped = wa[by_account]
    head = np.ones(grouped.shape, dtype=bool)
    head[1:] = grouped[1:] != grouped[:-1]
    later = np.flatnonzero(~head)
    previous = np.full(wp.shape, -1, dtype=np.int64)
    previous[by_account[later]] = wt[by_account[later - 1]]
    # per READ: the install after the one it saw (its account's first install for init)
    successor = np.full(wp.shape, -1, dtype=np.int64)
    successor[by_account[later - 1]] = by_account[later]
    first_install = np.full(na, -1, dtype=np.int64)
    first_install[grouped[head]] = by_account[head]
    following = np.where(expected_write >= 0, successor[expected_write], first_install[ra]) \
        if wp.size else np.full(rp.shape, -1, dtype=np.int64)
    wrep = previous
    if write_versions != _pick(version_names, previous.tolist()):
        vcode = {INIT: -1, **index}
        wrep = _codes(write_versions, vcode)
        if wrep is None:
            return None
    plain = Plain(columns, names, perm, ts, start, end, committed, rank, rp, rt, ra, rv, rver,
                  wp, wt, wa, wv, wrep, expected, expected_write, previous, following,
                  wrep is previous, read_rows, write_rows, read_accounts, write_accounts,
                  read_versions, write_versions)
    end_list = end.tolist()
    end_kind = _END_KINDS[np.where(end >= 0, np.where(committed, 1, 2), 0)].tolist()
    reason: list[str | None] = [None] * n
    if columns.reason:
        inverse = np.empty(m, dtype=np.int64)
        inverse[perm] = pos
        for row, text in columns.reason.items():
            p = int(inverse[row])
            if is_end[p]:
                reason[int(t[p])] = text
    marks = np.flatnonzero(is_start | is_commit)
    codes = np.where(k[marks] == START_CODE, t[marks], ~t[marks])
    # the last install of each account in time order, in order of first install
    last: dict[str, tuple[int, int]] = {}
    if wp.size:
        tail = np.ones(grouped.shape, dtype=bool)
        tail[:-1] = head[1:]
        for f, b in sorted(zip(by_account[head].tolist(), by_account[tail].tolist(),
                               strict=True)):
            last[write_accounts[f]] = (write_values[b], int(wt[b]))
    start_list = start.tolist()
    return {
        "plain": plain, "regressions": [], "t0": int(ts[0]), "unknown": [],
        "first": start_list, "has_events": has.tolist(), "start": start_list,
        "began": start_list, "starts": starts.tolist(), "end": end_list, "ends": ends.tolist(),
        "end_kind": end_kind, "reason": reason, "committed": committed.tolist(),
        "lifecycle": {}, "boundaries": codes.tolist(), "versions": True,
        "missing_version": None, "retried_reads": [], "retried_writes": [],
        "nreads": np.bincount(rt, minlength=n).tolist(),
        "nwrites": np.bincount(wt, minlength=n).tolist(), "ordered": True,
        "relabelled": {}, "order": list(serial), "rank": rank.tolist(), "clock": [],
        "last_install": last,
    }


_END_KINDS = np.array([None, COMMIT, ABORT], dtype=object)
"""What :attr:`Facts.end_kind` holds: no end, a COMMIT, an ABORT."""


def _lookup(keys: Any, query: Any) -> tuple[Any, Any]:
    """For each of ``query``: its index in the sorted ``keys`` and whether it is there."""
    i = _search(keys, query)
    inside = i < keys.size
    found = np.zeros(query.shape, dtype=bool)
    found[inside] = keys[i[inside]] == query[inside]
    return np.minimum(i, max(keys.size - 1, 0)), found


def isolation_clean(facts: Facts, plain: Plain) -> bool:
    """Whether isolation finds nothing in plain facts judged in serial order: every access
    declared, every READ of a committed install (committed before the READ) with its value,
    or of ``init`` with the initial balance; every install replacing the previous install of
    its account in time order (one from no later in serial order) and the version its
    transaction read. (Plain facts have no other anomaly of isolation's but a final
    balance, judged apart.)"""
    declared = facts.declared
    reads, writes = declared.reads, declared.writes
    if not np.all(reads.member(plain.rt, plain.ra)[0] | writes.member(plain.rt, plain.ra)[0]):
        return False
    if not np.all(writes.member(plain.wt, plain.wa)[0]):
        return False
    # plain: each READ saw the install expected_write (of a committed transaction) or init
    init = plain.rver < 0
    known = ~init
    w = plain.expected_write[known]
    if not (np.all(plain.end[plain.wt[w]] <= plain.rp[known])
            and np.all(plain.wv[w] == plain.rv[known])):
        return False
    if not _initial_values(facts, plain.ra[init], plain.rv[init]):
        return False
    # installs of each account in time order: each replaced the previous one, which does not
    # follow it in serial order
    previous = plain.previous
    if np.any(plain.wrep != previous):
        return False
    ranked = previous >= 0
    if np.any(plain.rank[previous[ranked]] > plain.rank[plain.wt[ranked]]):
        return False
    # each install replaced the version its transaction read of the account
    by_txn = np.argsort(plain.rt, kind="stable")
    read = Pairs(plain.rt[by_txn], plain.ra[by_txn], np.bincount(plain.rt, minlength=len(
        facts.ids)))
    found, at = read.member(plain.wt, plain.wa)
    return bool(np.all(plain.rver[by_txn[at[found]]] == plain.wrep[found]))


def _initial_values(facts: Facts, accounts: Any, values: Any) -> bool:
    """Whether each of ``values`` is the initial balance of the account at its place in
    ``accounts`` (indices into the batch's accounts)."""
    initial = facts.batch.accounts
    names = list(initial)
    return all(initial[names[a]] == v for a, v in zip(accounts.tolist(), values.tolist(),
                                                       strict=True))


def _committed_later(plain: Plain, txns: Any, versions: Any) -> bool:
    """Whether some transaction of ``txns`` took a version (``versions``, -1: init) whose
    writer committed after it ended."""
    known = versions >= 0
    writers = versions[known]
    return bool(np.any(plain.committed[writers]
                       & (plain.end[writers] > plain.end[txns][known])))


def forward_in_commit_order(plain: Plain) -> bool:
    """:func:`harness.checks.serializability._forward_in_commit_order` on plain facts.

    When every install replaced the previous install of its account in time order, the
    installs that replaced the version a READ saw are one: the install after it."""
    if plain.replaced_previous:
        return _forward_in_time(plain)
    committed, end = plain.committed, plain.end
    cw = committed[plain.wt]
    wt, wa, wrep = plain.wt[cw], plain.wa[cw], plain.wrep[cw]
    cr = committed[plain.rt]
    rt, ra, rver = plain.rt[cr], plain.ra[cr], plain.rver[cr]
    if _committed_later(plain, wt, wrep) or _committed_later(plain, rt, rver):
        return False
    e, f = end[wt], end[rt]
    if not wt.size or not rt.size:
        return True
    # (account, version) → the earliest end among the committed installs that replaced it
    n = len(committed) + 1
    keys = wa * n + (wrep + 1)
    order = np.lexsort((e, keys))
    keys, e = keys[order], e[order]
    head = np.ones(keys.shape, dtype=bool)
    head[1:] = keys[1:] != keys[:-1]
    keys, earliest = keys[head], e[head]
    i, found = _lookup(keys, ra * n + (rver + 1))
    return not bool(np.any(found & (earliest[i] < f)))


def _forward_in_time(plain: Plain) -> bool:
    """:func:`forward_in_commit_order` when each install replaced the previous one."""
    committed, end = plain.committed, plain.end
    cw = committed[plain.wt]
    if _committed_later(plain, plain.wt[cw], plain.wrep[cw]):
        return False
    cr = committed[plain.rt]
    f, u = end[plain.rt[cr]], plain.rver[cr]
    known = u >= 0
    if np.any(end[u[known]] > f[known]):  # a READ's version is a committed install
        return False
    w = plain.following[cr]
    after = w >= 0
    t = plain.wt[w[after]]
    return not bool(np.any(committed[t] & (end[t] < f[after])))


def values_fit(facts: Facts, plain: Plain, commit_order: list[int]) -> bool:
    """Whether replaying the committed transactions in ``commit_order`` from the initial
    balances gives every one of their READs the value it read."""
    n = len(facts.ids)
    position = np.full(n, -1, dtype=np.int64)
    position[np.array(commit_order, dtype=np.int64)] = np.arange(len(commit_order))
    cw = plain.committed[plain.wt]
    keys = plain.wa[cw] * (n + 1) + position[plain.wt[cw]]
    order = np.argsort(keys)
    keys, values = keys[order], plain.wv[cw][order]
    cr = plain.committed[plain.rt]
    ra, rv = plain.ra[cr], plain.rv[cr]
    query = ra * (n + 1) + position[plain.rt[cr]]
    before = _search(keys, query) - 1
    found = keys[np.maximum(before, 0)] if keys.size else np.zeros_like(query)
    hit = (before >= 0) & (found // (n + 1) == ra)
    if keys.size and np.any(hit & (values[np.maximum(before, 0)] != rv)):
        return False
    return _initial_values(facts, ra[~hit], rv[~hit])


def negative(values: Any) -> bool:
    """Whether any of the int64 ``values`` is negative."""
    return bool(values.size) and int(values.min()) < 0


LIMIT = 2 ** 62
"""Sums of values below this in magnitude cannot overflow int64."""


def changes(facts: Facts, plain: Plain) -> tuple[list[int], list[bool]] | None:
    """:func:`harness.checks.conservation._changes` on plain facts (None when the sums
    might not fit int64)."""
    n, na = len(facts.ids), max(len(facts.batch.accounts), 1)
    if not plain.wp.size:
        return [0] * n, [False] * n
    big = max(int(np.abs(plain.wv).max()), int(np.abs(plain.rv).max(initial=0)))
    if big * 2 * plain.wp.size >= LIMIT:
        return None
    rkeys = plain.rt * na + plain.ra
    rorder = np.argsort(rkeys)
    i, read = _lookup(rkeys[rorder], plain.wt * na + plain.wa)
    unknown = np.bincount(plain.wt[~read], minlength=n) > 0
    delta = np.zeros(n, dtype=np.int64)
    np.add.at(delta, plain.wt[read], plain.wv[read] - plain.rv[rorder[i[read]]])
    return delta.tolist(), unknown.tolist()


WIDEST = 8
"""Beyond this many pairs for one transaction, :meth:`Pairs.member` searches sorted keys."""


class Pairs:
    """Pairs (transaction, account) grouped by transaction in ascending order (``t``,
    ``a``), with how many each transaction has (``counts``)."""

    def __init__(self, t: Any, a: Any, counts: Any) -> None:
        self.t, self.a, self.counts = t, a, counts
        self.starts = np.cumsum(counts) - counts
        self.widest = int(counts.max(initial=0))

    def member(self, qt: Any, qa: Any) -> tuple[Any, Any]:
        """Which pairs (``qt``, ``qa``) are among these, and where (an index into ``t`` and
        ``a``; meaningless where not found)."""
        found = np.zeros(qt.shape, dtype=bool)
        at = np.zeros(qt.shape, dtype=np.int64)
        if not self.a.size:
            return found, at
        if self.widest > WIDEST:
            span = int(max(self.a.max(initial=0), qa.max(initial=0))) + 1
            keys = self.t * span + self.a
            order = np.argsort(keys, kind="stable")
            i, found = _lookup(keys[order], qt * span + qa)
            return found, order[i]
        start, count = self.starts[qt], self.counts[qt]
        for j in range(self.widest):
            inside = count > j
            i = np.where(inside, start + j, 0)
            hit = inside & ~found & (self.a[i] == qa)
            at[hit] = i[hit]
            found |= hit
        return found, at


@dataclass
class Declared:
    """The batch's declared accounts as arrays: per transaction how many it reads and
    writes (``nreads``, ``nwrites``) and its declared reads and writes as :class:`Pairs`
    (accounts index the batch's accounts, then the other declared ones)."""

    reads: Pairs
    writes: Pairs
    nreads: Any
    nwrites: Any


def declare(facts: Facts) -> Declared:
    """The declared reads and writes of :attr:`Facts.txs`."""
    txs, n = facts.txs, len(facts.txs)
    reads = [tx.reads for tx in txs]
    writes = [tx.writes for tx in txs]
    flat_reads, flat_writes = [*chain.from_iterable(reads)], [*chain.from_iterable(writes)]
    code = {name: i for i, name in enumerate(facts.batch.accounts)}
    ra, wa = _codes(flat_reads, code), _codes(flat_writes, code)
    if ra is None or wa is None:  # accounts declared beyond the batch's
        names = dict.fromkeys(chain(facts.batch.accounts, flat_reads, flat_writes))
        code = {name: i for i, name in enumerate(names)}
        ra, wa = _codes(flat_reads, code), _codes(flat_writes, code)
    nreads = np.fromiter(map(len, reads), np.int64, n)
    nwrites = np.fromiter(map(len, writes), np.int64, n)
    every = np.arange(n)
    rt, wt = np.repeat(every, nreads), np.repeat(every, nwrites)
    return Declared(Pairs(rt, ra, nreads), Pairs(wt, wa, nwrites), nreads, nwrites)


def order_edges(facts: Facts, declared: Declared) -> int | None:
    """How many distinct dependency edges u → v :func:`harness.checks.facts.dependencies`
    yields when every u ended before its v started (or v never started), else None."""
    n = len(facts.ids)
    rank = np.asarray(facts.rank, dtype=np.int64)
    wt, wa = declared.writes.t, declared.writes.a
    keys = wa * n + rank[wt]
    by_rank = np.argsort(keys)
    wt, wa, keys = wt[by_rank], wa[by_rank], keys[by_rank]
    us, vs = [], []
    # write after write: the previous writer of the account in serial order
    same = np.zeros(wa.shape, dtype=bool)
    same[1:] = wa[1:] == wa[:-1]
    us.append(np.roll(wt, 1)[same])
    vs.append(wt[same])
    rt, ra = declared.reads.t, declared.reads.a
    if keys.size and rt.size:
        # a transaction that also writes the account it reads has the edges of its write
        pure = ~declared.writes.member(rt, ra)[0]
        rt, ra = rt[pure], ra[pure]
        query = ra * n + rank[rt]
        ascending = _ascending(query)
        # read after write: the last writer of the account before the reader
        before = _search(keys, query, ascending=ascending) - 1
        hit = (before >= 0) & (wa[np.maximum(before, 0)] == ra)
        us.append(wt[before[hit]])
        vs.append(rt[hit])
        # write after read: the next writer of the account
        after = _search(keys, query, "right", ascending)
        hit = after < keys.size
        hit[hit] = wa[after[hit]] == ra[hit]
        us.append(rt[hit])
        vs.append(wt[after[hit]])
    explicit = [(facts.index[dep], v) for v, tx in enumerate(facts.txs) for dep in tx.after] \
        if any(map(attrgetter("after"), facts.txs)) else []
    if explicit:
        us.append(np.array([u for u, _ in explicit], dtype=np.int64))
        vs.append(np.array([v for _, v in explicit], dtype=np.int64))
    u, v = np.concatenate(us), np.concatenate(vs)
    began = np.asarray(facts.began, dtype=np.int64)
    end = np.asarray(facts.end, dtype=np.int64)
    sv, eu = began[v], end[u]
    if np.any((sv >= 0) & ~((eu >= 0) & (eu < sv))):
        return None
    pairs = np.sort(u * n + v)
    return int(pairs.size and 1 + np.count_nonzero(pairs[1:] != pairs[:-1]))


def incomplete(facts: Facts, declared: Declared) -> list[int]:
    """The transactions with fewer READs than declared reads or fewer WRITEs than declared
    writes, in batch order."""
    return np.flatnonzero((np.array(facts.nreads, dtype=np.int64) < declared.nreads)
                          | (np.array(facts.nwrites, dtype=np.int64) < declared.nwrites)
                          ).tolist()
