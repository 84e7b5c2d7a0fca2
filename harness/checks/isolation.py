"""Isolation and thread safety, judged from the versions the trace records.

Anomaly classes reported:

* ``clock problem`` — timestamps that are not on one clock: a stretch with no transaction
  running, far longer than the time transactions ran (one worker's events minutes away from
  the others'); an event timestamped before its own transaction's START; a READ timestamped
  far (over 10 s) before the writer of the version it read started. Ordering events by time
  is then meaningless: the checks marked *(time)* below are skipped, and the verdict says
  so.
* ``trace integrity`` — an event for an unknown transaction; a transaction whose STARTs and
  ends are not one START and one COMMIT/ABORT, or retried attempts (START … ABORT) before
  its last one; a READ or WRITE after its transaction's end *(time)*; an
  account read or installed twice by one transaction; a worker's timestamps going back in
  file order; a committed transaction of built-in operations without the READ or WRITE its
  operations imply.
* ``trace inconsistency`` — a READ whose recorded version holds another value than the one
  read (the initial balance, or what that version's writer installed), while the value read
  is that of the version the READ should have seen: the executor's recorded version is
  wrong, not the data. The other checks judge that READ by the version its value shows.
* ``undeclared access`` — a READ outside the declared accounts, a WRITE outside the
  declared writes.
* ``dirty read`` — a READ of a version whose writer aborted, never installed it (a retried
  attempt's write included) or never committed, or committed only after the READ *(time)*.
* ``stale read`` / ``read from the future`` — a READ of another version than the one
  installed by the last committed writer of that account preceding the reader in serial
  order (``init`` if none). Judged in the order the facts are indexed against (a witness
  order under ``--order any``); not judged when no serial order fits.
* ``wrong value`` — a READ whose value is not the value its version was installed with.
* ``lost update`` — an install that replaced another version than the one its transaction
  read; an install that replaced another version than the last recorded install left (a
  version overwritten behind the trace's back) *(time)*; a final balance other than the
  last install (not judged for a stopped batch: see atomicity).
* ``write order`` — installs of one account not in serial order *(time)*; not judged when
  no serial order fits.

The READs of a retried attempt (every attempt of a transaction before its last) had no
effect: they are judged for what does not depend on a serial order (undeclared accesses,
dirty reads, wrong values), never as stale reads or reads from the future.

Under ``--order any``, the READs of a transaction that rolled back on its own (its
operations fail with its ABORT's reason when run on the values it read:
:func:`harness.checks.orders.rolled_back_on_their_own`) are judged the same way: a database
promises a serial order of committed transactions only. Those the witness order would not
give it are noted in the verdict (*t4 rolled back on its own after reading acct3@init
(acct3@t2 in the witness order); a database promises a serial order of committed
transactions only, so its reads are not judged against it*), not failed.

Without recorded versions (a trace records them on all its READ and WRITE events or on
none) the checks that read them are not judged: dirty, stale and future reads, wrong values,
trace inconsistencies and lost updates between installs. The verdict is then ``N/A`` unless
what is judged without them fails: the clock (but for READs far ahead of their version's
writer), the integrity of the trace, undeclared accesses, the order of installs and the
final balances. A trace with versions on some events but not all is a ``trace integrity``
violation naming the first event without one, and none of its versions is used.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from itertools import compress, count, repeat
from operator import attrgetter, ne

from aethel.model import ATOMIC
from aethel.operations import Deposit, Hash, Read, Sleep, Spin, Transfer, Withdraw
from aethel.trace import ABORT, COMMIT, INIT, READ, START, Event
from harness.checks.anomalies import (
    CLOCK,
    DIRTY,
    EDGE_KINDS,
    FUTURE,
    INTEGRITY,
    LOST_UPDATE,
    RW,
    STALE,
    TRACE_INCONSISTENCY,
    UNDECLARED,
    WR,
    WRITE_ORDER,
    WRONG_VALUE,
    WW,
)
from harness.checks.columns import incomplete, isolation_clean
from harness.checks.facts import EarlyEvent, EarlyRead, Facts, IdleGap
from harness.checks.verdict import (
    ISOLATION,
    VALUES,
    Collector,
    Edge,
    Verdict,
    duration,
    plural,
)

_WRITES = attrgetter("writes")
BUILT_IN = (Transfer, Deposit, Withdraw, Read, Spin, Hash, Sleep)

SKIPPED_BY_CLOCK = ("real-time checks were skipped because of the clock problem: whether a "
                    "version was read before its writer committed, events after their "
                    "transaction's end, and the order of installs")
WITHOUT_VERSIONS = ("so which version each READ saw and each install replaced is unknown "
                    "(dirty, stale and future reads, wrong values, lost updates between "
                    f"installs: {VALUES} judges the values read instead)")
JUDGED_WITHOUT_VERSIONS = ("judged without them: the trace is well-formed, no access is "
                           "undeclared and the installs of each account are in {order}")
UNORDERED = ("stale reads, reads from the future and the order of installs not judged: no "
             "serial order fits (see strict serializability)")
COMMITTED_ONLY = "a database promises a serial order of committed transactions only"
"""Why, under ``--order any``, what transactions that rolled back on their own read is not
held to the witness order (PostgreSQL: data read by a transaction is not valid until it
commits)."""
MAX_NOTED = 3
"""Transactions named in a note on what was not held to the serial order."""


def check_isolation(facts: Facts, own: Collection[int] = ()) -> Verdict:
    """The clock, reads, installs, declared sets and the integrity of the trace. The reads of
    the transactions of ``own`` (indices: they rolled back on their own, under ``--order
    any``) are not judged against the serial order; those it would not give them are noted."""
    c = Collector(ISOLATION)
    unheld: list[tuple[int, str, str, str]] = []
    if facts.plain is not None and not own and isolation_clean(facts, facts.plain):
        # plain facts: no clock evidence, integrity problem, retried READ or duplicate
        _completeness(facts, c)
    else:
        _clock(facts, c)
        _integrity(facts, c)
        _completeness(facts, c)
        unheld = _reads(facts, c, frozenset(own))
        _retried_reads(facts, c)
        _installs(facts, c)
    _final_state(facts, c)
    held = _not_held(facts, unheld)
    notes = ("" if facts.one_clock else SKIPPED_BY_CLOCK, "" if facts.ordered else UNORDERED,
             held)
    why = facts.unversioned
    if why is None:
        ran = sum(facts.has_events)
        if facts.ordered:
            total = plural(facts.read_count, "read")
            saw = f"{facts.read_count - len(unheld)} of {total}" if unheld else f"all {total}"
            reads = (f"{saw} saw the version of the last preceding committed writer and all "
                     f"{plural(facts.write_count, 'install')} replaced the version their "
                     f"transaction read, in {facts.serial_order}")
        else:
            reads = (f"all {plural(facts.write_count, 'install')} replaced the version their "
                     f"transaction read ({UNORDERED})")
        note = "; ".join(filter(None, notes))
        return c.verdict(f"{reads}; no dirty read, no undeclared access; the trace of "
                         f"{plural(ran, 'transaction')} is well-formed"
                         f"{f'; {held}' if held else ''}", note=note)
    unjudged = f"not judged: {why}, {WITHOUT_VERSIONS}"
    judged = JUDGED_WITHOUT_VERSIONS.format(order=facts.serial_order)
    return c.verdict(f"{unjudged}; {judged}", applicable=False,
                     note="; ".join(filter(None, (unjudged, *notes))))


def _recorder(event: Event) -> str:
    return f"process {event.pid}, worker {event.worker}"


def _edge(source: str, target: str, kind: int, account: str) -> tuple[Edge, ...]:
    """The edge ``source`` → ``target`` as a violation's edges (none from ``init``, which
    is no transaction)."""
    return () if source == INIT else (Edge(source, target, EDGE_KINDS[kind], account),)


def _clock(facts: Facts, c: Collector) -> None:
    """The evidence that the timestamps are not on one clock, in plain words."""
    if facts.one_clock:
        return
    events, ids, start = facts.events, facts.ids, facts.began
    ran = f"the run's transactions ran for {duration(facts.run_time)} in all"
    for evidence in facts.clock:
        if isinstance(evidence, EarlyEvent):
            t, first, count = evidence
            name, event, begin = ids[t], events[first], events[start[t]]
            what = f"{event.kind} of {event.account}" if event.account else event.kind
            others = "" if count == 1 else f" and {plural(count - 1, 'other event')} of {name}"
            c.add(CLOCK, f"{name}'s {what} ({_recorder(event)}){others} "
                  f"{'is' if count == 1 else 'are'} timestamped {'' if count == 1 else 'up to '}"
                  f"{duration(begin.ts - event.ts)} before {name}'s own START "
                  f"({_recorder(begin)}), while {ran}: on one clock no event precedes its "
                  "transaction's START", (name,))
        elif isinstance(evidence, EarlyRead):
            p, t, u = evidence
            event, begin = events[p], events[start[u]]
            c.add(CLOCK, f"{ids[t]} read {event.account}@{ids[u]} ({_recorder(event)}) "
                  f"{duration(begin.ts - event.ts)} before {ids[u]} started "
                  f"({_recorder(begin)}), while {ran}: on one clock no version is read before "
                  "its writer starts", (ids[t], ids[u]), (event.account,))
        else:
            _idle_gap(facts, c, evidence, ran)


def _idle_gap(facts: Facts, c: Collector, gap: IdleGap, ran: str) -> None:
    """A stretch with no transaction running: the events on its two sides, by recorder."""
    events = facts.events
    gap_ns = facts.ts[gap.after] - facts.ts[gap.before]
    everywhere = Counter((e.pid, e.worker) for e in events)

    def side(part: list[Event]) -> str:
        there = Counter((e.pid, e.worker) for e in part)
        whole = [f"worker {w} of process {pid}" for (pid, w), k in sorted(there.items())
                 if k == everywhere[(pid, w)]]
        return f"the {plural(len(part), 'event')}" + \
            (f" of {' and '.join(whole)}" if whole else "")

    early, late = events[:gap.after], events[gap.after:]
    a, b = events[gap.before], events[gap.after]
    c.add(CLOCK, f"no transaction runs for {duration(gap_ns)} (from {a.txn}'s {a.kind} to "
          f"{b.txn}'s {b.kind}), while {ran}: {side(early)} lie {duration(gap_ns)} before "
          f"{side(late)}, so their timestamps are not on one clock", (a.txn, b.txn))


def _integrity(facts: Facts, c: Collector) -> None:
    ids = facts.ids
    for p in facts.unknown:
        event = facts.events[p]
        c.add(INTEGRITY, f"a {event.kind} event at {facts.at(p)} names transaction "
              f"{event.txn!r}, which is not in the batch" if event.txn not in facts.index else
              f"event {p + 1} has unknown kind {event.kind!r}", txns=(event.txn,))
    # a transaction with events and one START and one end has nothing to report here
    odd = {*compress(count(), map(ne, facts.starts, repeat(1))),
           *compress(count(), map(ne, facts.ends, repeat(1)))}
    for t in sorted(odd):
        if not facts.has_events[t]:
            continue
        name = ids[t]
        starts, ends = facts.starts[t], facts.ends[t]
        if starts and t in facts.lifecycle:
            _attempts(facts, c, t)
            continue
        if not starts:
            c.add(INTEGRITY, f"{name} has events but no START", txns=(name,))
        if not ends:
            c.add(INTEGRITY, f"{name} has events but no COMMIT or ABORT", txns=(name,))
        elif ends > 1:
            c.add(INTEGRITY, f"{name} has {ends} COMMIT/ABORT events", txns=(name,))
    for position, event, before in facts.regressions:
        c.add(INTEGRITY, f"worker {event.worker} of process {event.pid} goes back in time: "
              f"{event.kind} of {event.txn} (trace event {position + 1}) is {before - event.ts} "
              "ns before that worker's previous event", txns=(event.txn,))
    if facts.missing_version is not None:
        _some_versions(facts, c, facts.missing_version)


def _attempts(facts: Facts, c: Collector, t: int) -> None:
    """A transaction with several STARTs or ends: attempts ``START … ABORT`` (retried)
    followed by its last attempt ``START … COMMIT|ABORT``, and nothing else."""
    name, events = facts.ids[t], facts.events
    starts, ends = facts.starts[t], facts.ends[t]
    running = previous = -1
    extra = False
    for p in facts.lifecycle[t]:
        if events[p].kind != START:
            extra |= running < 0
            previous, running = p, -1
            continue
        if running >= 0:
            c.add(INTEGRITY, f"{name} starts again at {facts.at(p)} while its attempt started "
                  f"at {facts.at(running)} has not ended: a transaction is run again only "
                  "after an ABORT", txns=(name,))
        elif previous >= 0 and events[previous].kind == COMMIT:
            c.add(INTEGRITY, f"{name} starts again at {facts.at(p)} after it committed at "
                  f"{facts.at(previous)}: only an aborted attempt is run again", txns=(name,))
        running = p
    if extra:
        c.add(INTEGRITY, f"{name} has {ends} COMMIT/ABORT events" +
              (f" for {starts} START events" if starts > 1 else ""), txns=(name,))
    if running >= 0:
        c.add(INTEGRITY, f"{name} has events but no COMMIT or ABORT" if not ends else
              f"{name}'s last attempt, started at {facts.at(running)}, has no COMMIT or "
              "ABORT", txns=(name,))


def _some_versions(facts: Facts, c: Collector, p: int) -> None:
    """A trace that records versions on some READ and WRITE events but not on all: the
    first event without one."""
    event = facts.events[p]
    field = "version" if event.kind == READ else "replaced"
    accesses = [*facts.reads, *facts.writes]
    recorded = sum(access[4] is not None for access in accesses)
    c.add(INTEGRITY, f"{event.txn}'s {event.kind} of {event.account} at {facts.at(p)} (event "
          f"{p + 1} in time order) has no {field!r}, while {recorded} of the trace's "
          f"{len(accesses)} READ and WRITE events record their version: a trace records "
          "versions on all its READ and WRITE events or on none, so none of them is used",
          (event.txn,), (event.account,))


def _completeness(facts: Facts, c: Collector) -> None:
    """A committed transaction of built-in operations reads every account its operations
    read (the first access to an account is always a read of the snapshot) and installs
    every account they write.

    Fast path: with no duplicate and no undeclared access (checked elsewhere), as many READs
    as declared reads and WRITEs as declared writes means nothing is missing."""
    txs = facts.txs
    short = incomplete(facts, facts.declared)
    for t in short:
        tx = txs[t]
        if not facts.committed[t]:
            continue
        if any(not isinstance(op, BUILT_IN) for op in tx.ops):
            continue
        name, read_of, write_of = facts.ids[t], facts.read_of, facts.write_of
        for op in tx.ops:
            for account in op.reads:
                if (t, account) not in read_of:
                    c.add(INTEGRITY, f"{name} committed, but the trace has no READ of "
                          f"{account}, which its {op.kind} reads", (name,), (account,))
            for account in op.writes:
                if (t, account) not in write_of:
                    c.add(INTEGRITY, f"{name} committed, but the trace has no install of "
                          f"{account}, which its {op.kind} writes", (name,), (account,))


def _duplicates(entries: list[tuple[int, int, str, int, str]]) -> set[tuple[int, str]]:
    """(transaction, account) pairs that occur more than once."""
    seen: set[tuple[int, str]] = set()
    twice = set()
    for _, t, account, _, _ in entries:
        if (t, account) in seen:
            twice.add((t, account))
        seen.add((t, account))
    return twice


def _after_end(facts: Facts, c: Collector, p: int, t: int, account: str) -> None:
    """An event of ``t`` after its COMMIT or ABORT (judged only on one clock)."""
    end = facts.end[t]
    if facts.one_clock and end >= 0 and facts.ts[end] < facts.ts[p]:
        name = facts.ids[t]
        c.add(INTEGRITY, f"{name}'s {facts.events[p].kind} of {account} at {facts.at(p)} lies "
              f"outside its START…end (after its {facts.end_kind[t]} at {facts.at(end)})",
              (name,), (account,))


def _reads(facts: Facts, c: Collector, own: frozenset[int]) -> list[tuple[int, str, str, str]]:
    """Judge the READs of last attempts; those of ``own`` only for what needs no serial
    order. Returns the reads of ``own`` the serial order would not give them: (transaction,
    account, version read, version the order gives)."""
    ids, index, write_of = facts.ids, facts.index, facts.write_of
    accounts = list(map(attrgetter("accounts"), facts.txs))
    initial = facts.batch.accounts
    relabelled, versions = facts.relabelled, facts.versions
    unheld: list[tuple[int, str, str, str]] = []
    if len(facts.read_of) < len(facts.reads):
        for t, account in sorted(_duplicates(facts.reads)):
            c.add(INTEGRITY, f"{ids[t]} has more than one READ of {account}", (ids[t],),
                  (account,))
    # The cheap tests below only decide whether the full test (which reports) must run.
    end, committed, any_ordered = facts.end, facts.committed, facts.ordered
    suspect_dirty = bool(facts.retried_writes)
    for (p, t, account, value, version), expected in zip(facts.reads, facts.expected,
                                                          strict=True):
        if account not in accounts[t]:
            c.add(UNDECLARED, f"{ids[t]} read {account}, which it did not declare",
                  (ids[t],), (account,))
        if end[t] < p:
            _after_end(facts, c, p, t, account)
        if not versions:
            continue
        if relabelled and p in relabelled:
            _inconsistent(facts, c, t, account, value, relabelled[p], expected)
            continue
        if version == INIT:
            ordered = any_ordered and t not in own
            if value != initial.get(account):
                c.add(WRONG_VALUE, f"{ids[t]} read {account}={value}@init, but {account} was "
                      f"{initial.get(account)} initially", (ids[t],), (account,))
            if expected is not None and ordered:
                _wrong_version(facts, c, p, t, account, version, None, expected)
            elif expected is not None and any_ordered:
                unheld.append((t, account, version, ids[expected]))
            continue
        u = index.get(version)
        if u is None:
            c.add(INTEGRITY, f"{ids[t]} read {account}@{version}, but no transaction "
                  f"{version!r} is in the batch", (ids[t],), (account,))
            continue
        installed = write_of.get((u, account))
        if suspect_dirty or installed is None or not committed[u] or end[u] > p:
            if _dirty(facts, c, p, t, account, version, u):
                continue
            installed = write_of[(u, account)]
        if installed[0] != value:
            c.add(WRONG_VALUE, f"{ids[t]} read {account}={value}@{version}, but {version} "
                  f"installed {account}={installed[0]}", (ids[t], version), (account,),
                  edges=_edge(version, ids[t], WR, account))
        if any_ordered and u != expected:
            if t not in own:
                _wrong_version(facts, c, p, t, account, version, u, expected)
            else:
                unheld.append((t, account, version, facts.version_name(expected)))
    return unheld


def _not_held(facts: Facts, unheld: list[tuple[int, str, str, str]]) -> str:
    """The reads of transactions that rolled back on their own that the serial order would
    not give them, in words (empty if none)."""
    if not unheld:
        return ""
    by_txn: dict[int, list[str]] = {}
    for t, account, version, wanted in unheld:
        by_txn.setdefault(t, []).append(f"{account}@{version} ({account}@{wanted} in "
                                        f"{facts.serial_order})")
    shown = [f"{facts.ids[t]} rolled back on its own after reading {' and '.join(reads)}"
             for t, reads in list(by_txn.items())[:MAX_NOTED]]
    more = len(by_txn) - len(shown)
    if more:
        shown.append(f"{plural(more, 'other')} too")
    whose = "its reads are" if len(by_txn) == 1 else "their reads are"
    return f"{', '.join(shown)}; {COMMITTED_ONLY}, so {whose} not judged against it"


def _dirty(facts: Facts, c: Collector, p: int, t: int, account: str, version: str, u: int
           ) -> bool:
    """Whether the READ at ``p`` of ``account``@``version`` (written by ``u``) is dirty:
    ``u`` aborted, installed ``account`` only in an attempt it ran again, never installed
    it, or had not committed by then (reported). Else it read a committed install."""
    name = facts.ids[t]
    edges = _edge(version, name, WR, account)
    installed = facts.write_of.get((u, account))
    late = facts.one_clock and facts.end[u] > p
    retried = next((q for q, w, a, _, _ in facts.retried_writes
                    if w == u and a == account and (installed is None or late and q < p)),
                   None) if facts.retried_writes else None
    if facts.end_kind[u] == ABORT:
        c.add(DIRTY, f"{name} read {account}@{version}, written by {version}, which aborted",
              (name, version), (account,), edges=edges)
    elif retried is not None:
        reason = facts.attempt_reason(u, retried)
        when = f"; {version} committed only at {facts.at(facts.end[u])}" \
            if facts.committed[u] and installed is not None else ""
        c.add(DIRTY, f"{name} read {account}@{version}, written by an attempt of {version} "
              f"that aborted{f' ({reason})' if reason else ''} and was run again{when}",
              (name, version), (account,), edges=edges)
    elif installed is None:
        c.add(DIRTY, f"{name} read {account}@{version}, but {version} never installed "
              f"{account}", (name, version), (account,), edges=edges)
    elif not facts.committed[u] or late:
        when = f"at {facts.at(facts.end[u])}" if facts.committed[u] else "never"
        c.add(DIRTY, f"{name} read {account}@{version} at {facts.at(p)}, but {version} "
              f"committed {when}", (name, version), (account,), edges=edges)
    else:
        return False
    return True


def _retried_reads(facts: Facts, c: Collector) -> None:
    """The READs of retried attempts: declared, not dirty, of the value their version holds
    (never judged against a serial order: they had no effect)."""
    ids, initial, accounts = facts.ids, facts.batch.accounts, facts.txs
    for p, t, account, value, version in facts.retried_reads:
        name = ids[t]
        if account not in accounts[t].accounts:
            c.add(UNDECLARED, f"{name} read {account}, which it did not declare", (name,),
                  (account,))
        if not facts.versions:
            continue
        if version == INIT:
            if value != initial.get(account):
                c.add(WRONG_VALUE, f"{name} read {account}={value}@init in an attempt it ran "
                      f"again, but {account} was {initial.get(account)} initially", (name,),
                      (account,))
            continue
        u = facts.index.get(version)
        if u is None:
            c.add(INTEGRITY, f"{name} read {account}@{version}, but no transaction "
                  f"{version!r} is in the batch", (name,), (account,))
        elif not _dirty(facts, c, p, t, account, version, u) and \
                facts.write_of[(u, account)][0] != value:
            c.add(WRONG_VALUE, f"{name} read {account}={value}@{version} in an attempt it ran "
                  f"again, but {version} installed {account}={facts.write_of[(u, account)][0]}",
                  (name, version), (account,), edges=_edge(version, name, WR, account))


def _inconsistent(facts: Facts, c: Collector, t: int, account: str, value: int,
                  recorded: str, expected: int | None) -> None:
    """A READ whose recorded version holds another value than the one read, which is the
    value of the version it should have read."""
    name = facts.ids[t]
    if recorded == INIT:
        holds = f"{account} was {facts.batch.accounts[account]} initially"
    else:
        holds = f"{recorded} installed {account}=" \
                f"{facts.write_of[(facts.index[recorded], account)][0]}"
    if expected is None:
        want = INIT
        why = f"{account} was {value} initially and no committed transaction writes " \
              f"{account} before {name} in {facts.serial_order}"
    else:
        want = facts.ids[expected]
        why = f"{want} installed {account}={value} and is the last committed writer of " \
              f"{account} before {name} in {facts.serial_order}"
    c.add(TRACE_INCONSISTENCY, f"{name}'s READ of {account} names version {recorded} "
          f"({holds}), but the value it read, {account}={value}, is that of version {want} "
          f"({why}): the executor recorded the wrong version; the data is right",
          tuple(v for v in dict.fromkeys((name, want, recorded)) if v != INIT), (account,))


def _wrong_version(facts: Facts, c: Collector, p: int, t: int, account: str, version: str,
                   u: int | None, expected: int | None) -> None:
    """A committed version other than the expected one: from the future, or stale."""
    name = facts.ids[t]
    want = facts.version_name(expected)
    order = facts.serial_order
    if expected is None or (u is not None and facts.rank[u] > facts.rank[expected]):
        c.add(FUTURE, f"{name} read {account}@{version}, but {version} does not precede "
              f"{name} in {order}; {name} should have read {account}@{want}",
              (name, version), (account,), edges=_edge(version, name, WR, account))
        return
    edges = (*_edge(version, name, WR, account), *_edge(name, want, RW, account))
    installed_at = facts.write_of[(expected, account)][1]
    if not facts.one_clock:
        c.add(STALE, f"{name} read {account}@{version}, but {want}, which precedes it in "
              f"{order}, installed {account}@{want}: {want}'s update is lost to {name}",
              (name, want), (account,), edges=edges)
    elif installed_at < p:
        c.add(STALE, f"{name} read {account}@{version}, but {want}, which precedes it "
              f"in {order}, had already installed {account}@{want} (at "
              f"{facts.at(installed_at)}, before the read at {facts.at(p)}): {want}'s "
              f"update is lost to {name}", (name, want), (account,), edges=edges)
    else:
        c.add(STALE, f"{name} read {account}@{version} at {facts.at(p)}, before {want}, "
              f"which precedes it in {order}, installed {account}@{want} (at "
              f"{facts.at(installed_at)})", (name, want), (account,), edges=edges)


def _installs(facts: Facts, c: Collector) -> None:
    ids, read_of, rank, one_clock = facts.ids, facts.read_of, facts.rank, facts.one_clock
    versions, ordered = facts.versions, facts.ordered
    writes = list(map(_WRITES, facts.txs))
    if len(facts.write_of) < len(facts.writes):
        for t, account in sorted(_duplicates(facts.writes)):
            c.add(INTEGRITY, f"{ids[t]} installed {account} more than once", (ids[t],),
                  (account,))
    current: dict[str, tuple[str, int]] = {}
    end, unwritten = facts.end, (INIT, -1)
    for p, t, account, _, replaced in facts.writes:
        name = ids[t]
        if account not in writes[t]:
            c.add(UNDECLARED, f"{name} wrote {account}, which it did not declare as a write",
                  (name,), (account,))
        if end[t] < p:
            _after_end(facts, c, p, t, account)
        version, by = current.get(account, unwritten)  # by: the serial rank of version's writer
        if versions and one_clock and replaced != version:
            c.add(LOST_UPDATE, f"{name}'s install of {account} replaced {account}@{replaced}, "
                  f"but the last recorded install had left {account}@{version}: that version "
                  "was overwritten without a recorded install, or an install is missing from "
                  "the trace", (name, version), (account,),
                  edges=_edge(version, name, WW, account))
        read = read_of.get((t, account))
        if versions and read is not None and read[0] != replaced:
            c.add(LOST_UPDATE, f"{name} read {account}@{read[0]} but its install replaced "
                  f"{account}@{replaced}: the update by {replaced} is lost",
                  (name, replaced), (account,), edges=_edge(replaced, name, WW, account))
        r = rank[t]
        if one_clock and ordered and by > r:
            c.add(WRITE_ORDER, f"{name} installed {account} after {version} did, but {name} "
                  f"precedes {version} in {facts.serial_order}", (name, version), (account,),
                  edges=_edge(version, name, WW, account))
        current[account] = (name, r)


def _final_state(facts: Facts, c: Collector) -> None:
    """The final balances are what the last recorded installs left (unless rolled back: a
    failed atomic batch, or a stopped one, whose final state atomicity judges)."""
    final = facts.final_state
    if final is None or facts.final_source != "result" or facts.stopped is not None or (
            facts.mode == ATOMIC and facts.failure is not None):
        return
    for account, initial in facts.batch.accounts.items():
        want, by = facts.last_install.get(account, (initial, -1))
        got = final.get(account)
        if got == want:
            continue
        if by < 0:
            c.add(LOST_UPDATE, f"{account} is {got} at the end, but the trace has no install "
                  f"of {account}, which started at {initial}", accounts=(account,))
        else:
            name = facts.ids[by]
            c.add(LOST_UPDATE, f"{account} is {got} at the end, but the last recorded "
                  f"install, by {name}, left {want}: {name}'s update was overwritten without a "
                  "recorded install", (name,), (account,))
