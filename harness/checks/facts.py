"""What the checkers read: the batch, the observed execution, and one index over both.

:class:`Observed` is what an execution produced (its trace and, when known, its final
balances and the outcomes it claimed). :class:`Facts` indexes it once, in time linear in the
trace (plus a sort when the trace is not in timestamp order), so that every checker runs in
linear time. The dependency rules and the serial order are derived here from the batch,
independently of :mod:`aethel.analysis`: a deliberate second implementation, so that a
mistake in the engine's analysis cannot hide itself from the checkers.

Recorded versions. They are optional: a trace records them on all its READ and WRITE
events or on none (:attr:`Facts.versions`). Without them the checkers that judge versions
say they were not judged and the others judge as usual; a trace that records some but not
all is a trace integrity violation (:attr:`Facts.missing_version` names the first event
without one), and its versions are not used at all, so that no checker judges from half of
them. A READ whose recorded version does not hold the value it read, while that value is
the one of the version serial order says it should have read, is indexed with that version
(:attr:`Facts.relabelled` keeps what was recorded): the data is right, the label is not,
and isolation reports it once as a trace inconsistency.

Retries. A transaction may run several attempts: ``START … ABORT`` then ``START`` again.
Only the last attempt is the transaction (:attr:`Facts.start`, :attr:`Facts.end`, its
outcome, :attr:`Facts.reads` and :attr:`Facts.writes`); the READs and WRITEs of the earlier
attempts are aborted attempts' (:attr:`Facts.retried_reads`, :attr:`Facts.retried_writes`):
they had no effect, and a write of theirs that someone read is a dirty read.

Serial order. The checkers judge against batch order moved only by ``after``
(:func:`serial_indices`); :meth:`Facts.reorder` gives the same facts indexed against another
serial order (a witness found for ``--order any``), or against none.

One clock. Time order is only meaningful if every timestamp comes from one clock.
:attr:`Facts.clock` collects the evidence that they do not: a stretch with no transaction
running that is far longer than the time transactions ran (one worker's clock minutes away
from the others'), an event timestamped before its own transaction's START, and a READ
timestamped far (:data:`CLOCK_SLACK`) before the writer of the version it read started (a
shorter lead is judged as a real-time anomaly: a dirty read, a real-time cycle; without
versions this evidence is not available). The checkers then derive nothing from the order
of events in time.

Final state. When no final state is given it is reconstructed from the trace: every
``WRITE`` replayed in time order on the batch's initial balances (when the timestamps are
not on one clock and the trace records versions: each account's install that no other
install replaced). In an atomic batch whose trace shows a failure the executor must roll
back, which a trace does not record; the final state is then unknown and the checkers that
need it say so.
"""

from __future__ import annotations

import copy
import heapq
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import repeat
from operator import attrgetter, invert, itemgetter, lt
from typing import NamedTuple, Protocol

import networkx as nx

from aethel.errors import CircularDependencyError
from aethel.executor import ExecutionResult
from aethel.memory import paused_gc
from aethel.model import ATOMIC, Batch
from aethel.outcome import ABORTED, COMMITTED, SKIPPED
from aethel.trace import ABORT, COMMIT, INIT, KINDS, READ, START, WRITE, Event
from harness.checks.columns import Declared, Plain, RecordedTrace, declare, scan

SKIP_PREFIX = "skipped"
"""ABORT reasons of transactions discarded by a failed atomic batch start with this."""

RAW, WAW, WAR, EXPLICIT = "RAW", "WAW", "WAR", "explicit"

# What the trace shows about a transaction.
NOT_RUN, UNFINISHED = "not run", "unfinished"

CLOCK_SLACK = 10_000_000_000
"""Offsets that are evidence of a clock problem are longer than this (10 s, in ns): a READ's
lead on the START of the writer of its version, and a stretch of the trace with no
transaction running (if also longer than :data:`IDLE_FACTOR` times the time during which
transactions ran)."""
IDLE_FACTOR = 10
"""How many times longer than the time transactions ran an idle stretch must be."""

SERIAL_ORDER = "serial order"
"""What the verdicts call the order they judge against, by default."""
NO_VERSIONS = "no versions recorded"
SOME_VERSIONS = "versions recorded on only some READ and WRITE events"


class EarlyEvent(NamedTuple):
    """``count`` events of transaction ``t`` are timestamped before its own START; the
    earliest is at position ``first``."""

    t: int
    first: int
    count: int


class EarlyRead(NamedTuple):
    """The READ at position ``p`` by transaction ``t`` of the version ``u`` installed is
    timestamped more than :data:`CLOCK_SLACK` before ``u``'s START."""

    p: int
    t: int
    u: int


class IdleGap(NamedTuple):
    """No transaction runs from position ``before`` to position ``after``, for far longer
    than the time during which transactions ran (:attr:`Facts.busy`)."""

    before: int
    after: int


ClockEvidence = EarlyEvent | EarlyRead | IdleGap


class RecordedOutcome(Protocol):
    """A transaction's outcome as an executor reported it."""

    @property
    def status(self) -> str: ...

    @property
    def reason(self) -> str | None: ...


class ExecutionRecord(Protocol):
    """What :meth:`Observed.from_result` reads of an execution (the engine's result, a
    protocol :class:`~harness.campaign.protocol.Run`): its final balances, the outcomes it
    reported and its trace; and, if it has one, ``stopped`` (the batch did not finish, in
    words)."""

    @property
    def final_states(self) -> Mapping[str, int]: ...

    @property
    def outcomes(self) -> Mapping[str, RecordedOutcome]: ...

    @property
    def execution_trace(self) -> Sequence[Event]: ...


@dataclass(frozen=True)
class Observed:
    """An execution as the checkers see it.

    ``final_state`` (balances after the run) and ``outcomes`` (``id → (status, reason)``
    as the executor reported them) are optional. ``stopped`` says, in words, that the batch
    did not finish (the executor raised an ExecutionError, e.g. ``a timeout (…)``): the
    final state is then what the error carried, and no outcomes were reported.
    """

    events: Sequence[Event]
    final_state: Mapping[str, int] | None = None
    outcomes: Mapping[str, tuple[str, str | None]] | None = None
    stopped: str | None = None

    @classmethod
    def from_result(cls, result: ExecutionRecord) -> Observed:
        """The trace, final balances and reported outcomes of an execution (and whether it
        was stopped)."""
        stopped = getattr(result, "stopped", None)
        outcomes = None if stopped else {t: (o.status, o.reason)
                                         for t, o in result.outcomes.items()}
        trace = RecordedTrace(result) if isinstance(result, ExecutionResult) \
            else result.execution_trace
        return cls(trace, dict(result.final_states), outcomes, stopped)


def dependencies(batch: Batch, order: Sequence[int] | None = None
                 ) -> Iterator[tuple[int, int, str, str | None]]:
    """Every edge u → v of the batch's dependency DAG as ``(u, v, kind, account)``, by index.

    Per account, a small index of the last writer and the readers since that write gives
    read-after-write, write-after-write and write-after-read edges in one pass in serial
    order (``order``, by default :func:`serial_indices`), so every edge goes forward in it;
    ``after`` adds explicit edges. An edge may be yielded once per reason.
    """
    txs = batch.transactions
    index: dict[str, int] | None = None  # built for the first explicit dependency
    last_writer: dict[str, int] = {}
    readers: dict[str, list[int]] = {}
    for v in serial_indices(batch) if order is None else order:
        tx = txs[v]
        for account in sorted(tx.reads) if len(tx.reads) > 1 else tx.reads:
            u = last_writer.get(account)
            if u is not None:
                yield u, v, RAW, account
        for account in sorted(tx.writes) if len(tx.writes) > 1 else tx.writes:
            for u in readers.pop(account, ()):
                yield u, v, WAR, account
            u = last_writer.get(account)
            if u is not None:
                yield u, v, WAW, account
            last_writer[account] = v
        for account in tx.reads - tx.writes:
            readers.setdefault(account, []).append(v)
        if tx.after and index is None:
            index = {other.id: i for i, other in enumerate(txs)}
        for dep in tx.after:
            yield index[dep], v, EXPLICIT, None


def serial_indices(batch: Batch) -> list[int]:
    """Batch order, moved only as far as explicit ``after`` dependencies require (indices):
    the topological order of the ``after`` edges alone, smallest index first.

    Raises :class:`CircularDependencyError` when explicit dependencies form a cycle.
    """
    txs = batch.transactions
    n = len(txs)
    if not any(map(_AFTER, txs)):
        return list(range(n))
    index = {tx.id: i for i, tx in enumerate(txs)}
    if all(index[dep] < v for v, tx in enumerate(txs) for dep in tx.after):
        return list(range(n))
    succ: list[list[int]] = [[] for _ in range(n)]
    indeg = [0] * n
    for v, tx in enumerate(txs):
        for dep in tx.after:
            succ[index[dep]].append(v)
            indeg[v] += 1
    order = smallest_first_order(range(n), succ, indeg)
    if len(order) < n:
        done = set(order)
        rest = nx.DiGraph((txs[u].id, txs[v].id) for u in range(n) if u not in done
                          for v in succ[u])
        nodes = [u for u, _ in nx.find_cycle(rest)]
        raise CircularDependencyError([*nodes, nodes[0]])
    return order


def smallest_first_order(nodes: Iterable[int], succ: list[list[int]], indeg: list[int]
                         ) -> list[int]:
    """Kahn's algorithm over ``nodes``, smallest index first; ``indeg`` is consumed. Nodes
    on or behind a cycle are left out of the order."""
    ready = [t for t in nodes if not indeg[t]]
    heapq.heapify(ready)
    order = []
    while ready:
        u = heapq.heappop(ready)
        order.append(u)
        for v in succ[u]:
            indeg[v] -= 1
            if not indeg[v]:
                heapq.heappush(ready, v)
    return order


def describe_dependency(kind: str, account: str | None, u: str, v: str) -> str:
    """Why ``v`` depends on ``u``, in plain words."""
    if kind == RAW:
        return f"{v} reads {account}, which {u} writes"
    if kind == WAW:
        return f"both write {account}"
    if kind == WAR:
        return f"{v} writes {account}, which {u} reads"
    return f"{v} is declared to run after {u}"


class Facts:
    """One pass over the trace, indexed for the checkers.

    Transactions are referred to by their index in the batch; :attr:`order` lists them in
    serial order and :attr:`rank` gives each one's position in it (:attr:`serial_order`
    names that order in the verdicts; :attr:`ordered` is false when no serial order fits).
    Event positions are indices into :attr:`events`, the trace in time order (by ``ts``,
    ties in trace order); :attr:`ts` holds their timestamps.

    An engine's trace that is plain (:mod:`harness.checks.columns`) is indexed from its
    columns: :attr:`plain` holds its arrays, and :attr:`events`, :attr:`ts`, :attr:`reads`,
    :attr:`writes`, :attr:`read_of`, :attr:`write_of` and :attr:`expected` are built on
    first use, as the general path builds them. Otherwise :attr:`plain` is None.
    """

    plain: Plain | None
    _source: Plain | None
    """The arrays the lazy attributes are built from (kept by :meth:`reorder`, which sets
    :attr:`plain` to None)."""

    def __init__(self, batch: Batch, observed: Observed) -> None:
        self.batch = batch
        self.mode = batch.mode
        self.txs = batch.transactions
        self.ids = [tx.id for tx in self.txs]
        self.index = dict(zip(self.ids, range(len(self.ids)), strict=True))
        self.serial_order = SERIAL_ORDER
        self.claimed = observed.outcomes
        self.stopped = observed.stopped
        self.plain = self._source = None
        view = observed.events.columns() if isinstance(observed.events, RecordedTrace) \
            else None
        found = scan(self, *view, serial_indices(batch)) if view is not None else None
        if found is not None:
            self.__dict__.update(found)
            self._source = self.plain
        else:
            self._scan_file_order(list(observed.events))
            self._scan()
            self._index_versions(serial_indices(batch))
            self._check_clock()
            self.last_install = self._last_installs()
        self._derive_final(observed.final_state)

    @cached_property
    def events(self) -> list[Event]:
        """The trace in time order (built from :attr:`plain`)."""
        assert self._source is not None
        return self._source.events()

    @cached_property
    def ts(self) -> list[int]:
        """The events' timestamps (built from :attr:`plain`)."""
        assert self._source is not None
        return self._source.ts.tolist()

    @cached_property
    def reads(self) -> list[tuple[int, int, str, int, str]]:
        """READ rows (position, transaction, account, value, version), in time order, of
        last attempts (built from :attr:`plain`)."""
        assert self._source is not None
        return self._source.rows(reads=True)

    @cached_property
    def writes(self) -> list[tuple[int, int, str, int, str]]:
        """WRITE rows (position, transaction, account, value, replaced), in time order, of
        last attempts (built from :attr:`plain`)."""
        assert self._source is not None
        return self._source.rows(reads=False)

    @cached_property
    def read_of(self) -> dict[tuple[int, str], tuple[str, int]]:
        """(transaction, account) → (version, value) of its READ (built from :attr:`plain`)."""
        return {(t, account): (version, value) for _, t, account, value, version in self.reads}

    @cached_property
    def write_of(self) -> dict[tuple[int, str], tuple[int, int]]:
        """(transaction, account) → (value, position) of its WRITE (built from
        :attr:`plain`)."""
        return {(t, account): (value, p) for p, t, account, value, _ in self.writes}

    @cached_property
    def expected(self) -> list[int | None]:
        """Aligned with :attr:`reads`: the version serial order gives each (built from
        :attr:`plain`)."""
        assert self._source is not None
        return [None if e < 0 else e for e in self._source.expected.tolist()]

    @cached_property
    def declared(self) -> Declared:
        """The batch's declared reads and writes as arrays (built on first use)."""
        return declare(self)

    @property
    def read_count(self) -> int:
        """How many READs :attr:`reads` holds (without building it)."""
        return len(self.reads) if self.plain is None else len(self.plain.rp)

    @property
    def write_count(self) -> int:
        """How many WRITEs :attr:`writes` holds (without building it)."""
        return len(self.writes) if self.plain is None else len(self.plain.wp)

    def _scan_file_order(self, events: list[Event]) -> None:
        """Per-worker timestamp regressions (in file order); sort into time order if needed.

        A trace in timestamp order has none, so only an unordered trace is scanned."""
        self.regressions: list[tuple[int, Event, int]] = []
        stamps = list(map(itemgetter(2), events))
        if stamps == sorted(stamps):
            self.events, self.ts = events, stamps
        else:
            last: dict[tuple[int, int], int] = {}
            for position, event in enumerate(events):
                key = (event.pid, event.worker)
                before = last.get(key)
                if before is not None and event.ts < before:
                    self.regressions.append((position, event, before))
                last[key] = event.ts
            self.events = sorted(events, key=itemgetter(2))
            self.ts = list(map(itemgetter(2), self.events))
        self.t0 = self.ts[0] if self.ts else 0

    def _scan(self) -> None:
        """Split the events by kind and transaction (in bulk: this is the hot path)."""
        n = len(self.ids)
        events = self.events
        kinds = list(map(itemgetter(0), events))
        tix = list(map(self.index.get, map(itemgetter(1), events)))
        by_kind: dict[str, list[int]] = {kind: [] for kind in KINDS}
        unknown: list[int] = []
        for p, kind in enumerate(kinds):
            by_kind.get(kind, unknown).append(p)
        self.unknown = unknown
        if None in tix:
            self.unknown = sorted({*self.unknown, *(p for p, t in enumerate(tix) if t is None)})
            bad = set(self.unknown)
            by_kind = {k: [p for p in ps if p not in bad] for k, ps in by_kind.items()}
        # The position of each transaction's first event (-1 if it has none).
        firsts = dict(zip(reversed(tix), range(len(tix) - 1, -1, -1), strict=True))
        self.first = list(map(firsts.get, range(n), repeat(-1)))
        self.has_events = [p >= 0 for p in self.first]
        self._scan_attempts(tix, kinds, by_kind)
        reads = _rows(events, tix, by_kind[READ], 7)
        writes = _rows(events, tix, by_kind[WRITE], 8)
        self._scan_versions(reads, writes)
        self.reads: list[tuple[int, int, str, int, str]]
        self.writes: list[tuple[int, int, str, int, str]]
        self.reads, self.retried_reads = self._split_attempts(reads)
        self.writes, self.retried_writes = self._split_attempts(writes)
        # (transaction, account) → (version, value) of its READ; → (value, position) of its WRITE
        self.read_of = {(t, account): (version, value)
                        for _, t, account, value, version in self.reads}
        self.write_of = {(t, account): (value, p) for p, t, account, value, _ in self.writes}
        self.nreads = _per_transaction(map(_TXN, self.reads), n)
        self.nwrites = _per_transaction(map(_TXN, self.writes), n)

    def _scan_attempts(self, tix: list[int | None], kinds: list[str],
                       by_kind: dict[str, list[int]]) -> None:
        """STARTs and ends per transaction: :attr:`start` is the START of its last attempt
        (:attr:`began` its first START), :attr:`end` the first COMMIT or ABORT after it (its
        first one, if it has one START); :attr:`lifecycle` lists the START, COMMIT and ABORT
        positions of every transaction with more than one START or end, in time order."""
        n = len(self.ids)
        events = self.events
        self.start = start = [-1] * n
        self.began = began = [-1] * n
        self.starts = starts = [0] * n
        for p in by_kind[START]:
            t = tix[p]
            starts[t] += 1
            if began[t] < 0:
                began[t] = p
            start[t] = p
        self.end = end = [-1] * n
        self.ends = ends = [0] * n
        self.end_kind: list[str | None] = [None] * n
        self.reason: list[str | None] = [None] * n
        finals = sorted(by_kind[COMMIT] + by_kind[ABORT])
        for p in finals:
            t = tix[p]
            ends[t] += 1
            if end[t] < 0 and (starts[t] < 2 or p > start[t]):
                end[t] = p
                self.end_kind[t] = kinds[p]
                self.reason[t] = events[p][9]
        self.committed = [k == COMMIT for k in self.end_kind]
        self.lifecycle: dict[int, list[int]] = {}
        if max(starts, default=0) > 1 or max(ends, default=0) > 1:
            for p in sorted(by_kind[START] + finals):
                t = tix[p]
                if starts[t] > 1 or ends[t] > 1:
                    self.lifecycle.setdefault(t, []).append(p)
        # STARTs of last attempts (t) and their ends that are COMMITs (~t), in time order.
        marks = sorted([p for p in start if p >= 0] +
                       [e for e, c in zip(end, self.committed, strict=True) if c])
        self.boundaries = [tix[p] if kinds[p] == START else ~tix[p] for p in marks]

    def _split_attempts(self, rows: list[tuple[int, int, str, int, str]]
                        ) -> tuple[list[tuple[int, int, str, int, str]],
                                   list[tuple[int, int, str, int, str]]]:
        """READ or WRITE rows split into those of each transaction's last attempt (and any
        before its first START) and those of its earlier attempts."""
        began, start = self.began, self.start
        if not self.lifecycle or not any(began[t] < start[t] for t in self.lifecycle):
            return rows, []
        earlier = [r for r in rows if began[r[1]] < r[0] < start[r[1]]]
        if not earlier:
            return rows, []
        return [r for r in rows if not began[r[1]] < r[0] < start[r[1]]], earlier

    def attempt_reason(self, t: int, p: int) -> str | None:
        """The reason of the ABORT that ended the attempt of ``t`` holding event ``p``
        (None: no ABORT ended it, or it gave no reason)."""
        marks = self.lifecycle.get(t, [])
        i = bisect_right(marks, p)
        return self.events[marks[i]].reason if i < len(marks) else None

    def _scan_versions(self, reads: list[tuple[int, int, str, int, str]],
                       writes: list[tuple[int, int, str, int, str]]) -> None:
        """:attr:`versions`: whether every READ and WRITE records its version (vacuously
        true without any). :attr:`missing_version`: in a trace that records some but not
        all, the position of the first READ or WRITE without one (else ``None``)."""
        self.versions = None not in map(_VERSION, reads) and None not in map(_VERSION, writes)
        self.missing_version: int | None = None
        if not self.versions and any(v is not None for _, _, _, _, v in (*reads, *writes)):
            self.missing_version = min(p for p, _, _, _, v in (*reads, *writes) if v is None)

    @property
    def unversioned(self) -> str | None:
        """Why the recorded versions are not used, in words (``None``: they are)."""
        if self.versions:
            return None
        return NO_VERSIONS if self.missing_version is None else SOME_VERSIONS

    def _index_versions(self, order: Sequence[int] | None) -> None:
        """Against the serial order ``order`` (transaction indices; None: no serial order
        fits), the version each READ should have seen and the READs whose recorded version
        contradicts their value although the value is that version's.

        Sets :attr:`order` and :attr:`rank` (kept as they were for None) and
        :attr:`ordered`. :attr:`expected` (aligned with :attr:`reads`) is the last committed
        writer of the account preceding the reader in that order (``None``: the initial
        balance; always without an order). :attr:`relabelled` maps the position of each READ
        whose recorded version holds another value (the initial balance, or what that
        version's writer installed) while the value read is the expected version's, to the
        version it recorded; :attr:`reads` and :attr:`read_of` index such a READ with the
        expected version (none without versions or without an order)."""
        self.ordered = order is not None
        self.relabelled: dict[int, str] = {}
        if order is None:
            self.expected: list[int | None] = [None] * len(self.reads)
            return
        self.order = list(order)
        self.rank = [0] * len(self.order)
        for r, t in enumerate(self.order):
            self.rank[t] = r
        ids, index, write_of = self.ids, self.index, self.write_of
        order, rank = self.order, self.rank
        versions = self.versions
        initial = self.batch.accounts
        writers = self.committed_writers()
        self.expected = []
        reads, expect, find = self.reads, self.expected.append, bisect_left
        for k, (p, t, account, value, version) in enumerate(reads):
            ws = writers.get(account)
            i = find(ws, rank[t]) if ws else 0
            e = order[ws[i - 1]] if i else None
            expect(e)
            name = ids[e] if i else INIT
            if not versions or version == name or value != (
                    initial.get(account) if e is None else write_of[(e, account)][0]):
                continue
            u = index.get(version)
            if version != INIT and u is None:
                continue
            held = initial.get(account) if u is None else write_of.get((u, account), (None,))[0]
            if held is not None and held != value:
                self.relabelled[p] = version
                reads[k] = (p, t, account, value, name)
                self.read_of[(t, account)] = (name, value)

    def _check_clock(self) -> None:
        """Collect in :attr:`clock` the evidence that the timestamps are not on one clock.

        Fast path: idle stretches and early READs need a trace spanning over
        :data:`CLOCK_SLACK`, and an event precedes its START only if its transaction's first
        event is not its (first) START."""
        ts, start, began, first = self.ts, self.start, self.began, self.first
        self.clock: list[ClockEvidence] = []
        if ts and ts[-1] - ts[0] > CLOCK_SLACK:
            busy, gaps = self._activity
            self.clock.extend(IdleGap(a, b) for a, b in gaps
                              if ts[b] - ts[a] > max(CLOCK_SLACK, IDLE_FACTOR * busy))
        if any(map(lt, first, began)):
            for t, p in enumerate(first):
                if p < began[t] and ts[p] < ts[began[t]]:
                    early = [q for q, e in enumerate(self.events)
                             if e.txn == self.ids[t] and e.ts < ts[began[t]]]
                    self.clock.append(EarlyEvent(t, early[0], len(early)))
        if not self.versions:
            return
        index, write_of = self.index, self.write_of
        cutoff = ts[max(start)] - CLOCK_SLACK if ts and max(start) >= 0 else 0
        for p, t, account, value, version in self.reads:  # in time order
            if ts[p] >= cutoff:
                break
            u = index.get(version)
            if u is not None and u != t and start[u] >= 0 and \
                    ts[start[u]] - ts[p] > CLOCK_SLACK and \
                    write_of.get((u, account), (None,))[0] == value:
                self.clock.append(EarlyRead(p, t, u))

    @cached_property
    def commit_order(self) -> list[int]:
        """The committed transactions in the order of their COMMITs (read it, never change
        it: the checkers share it)."""
        return list(map(invert, filter(_NEGATIVE, self.boundaries)))

    @cached_property
    def _activity(self) -> tuple[int, list[tuple[int, int]]]:
        """The time during which transactions ran (ns: the union of their spans from their
        first START to their end, an unfinished one's to the end of the trace) and the
        stretches between those spans (pairs of positions)."""
        ts, last = self.ts, len(self.ts) - 1
        spans = sorted((s, e if e >= 0 else last) for s, e in zip(self.began, self.end,
                                                                   strict=True)
                       if s >= 0 and (e < 0 or ts[s] <= ts[e]))
        busy = 0
        gaps = []
        if spans:
            low, high = spans[0]
            for s, e in spans[1:]:
                if s > high:
                    busy += ts[high] - ts[low]
                    gaps.append((high, s))
                    low = s
                high = max(high, e)
            busy += ts[high] - ts[low]
        return busy, gaps

    @property
    def busy(self) -> int:
        """The time during which transactions ran (ns)."""
        return self._activity[0]

    @property
    def run_time(self) -> int:
        """How long the run took as far as a trace whose clocks disagree can tell (ns): the
        smaller of :attr:`busy` and the span of the COMMIT and ABORT events (when at least
        two transactions ended). A clock that is off stretches one of them: a worker's STARTs
        and READs far from its transactions' ends stretch the transactions; all of a
        worker's events far from the others' spread the ends."""
        ends = [p for p in self.end if p >= 0]
        if len(ends) < 2:
            return self.busy
        return min(self.busy, self.ts[max(ends)] - self.ts[min(ends)])

    @property
    def one_clock(self) -> bool:
        """Whether the timestamps may be on one clock (nothing in :attr:`clock` says not)."""
        return not self.clock

    def reorder(self, order: Sequence[int] | None, name: str = SERIAL_ORDER) -> Facts:
        """These facts indexed against another serial order: ``order`` lists every
        transaction once (indices), and the verdicts call it ``name``; None: no serial order
        fits, and nothing is judged against one. The READs are taken with the versions they
        recorded, then indexed as :meth:`_index_versions` does."""
        facts = copy.copy(self)
        facts.plain = None
        facts.serial_order = name
        facts.reads = list(self.reads)
        facts.read_of = dict(self.read_of)
        if self.relabelled:
            for k, (p, t, account, value, _) in enumerate(self.reads):
                recorded = self.relabelled.get(p)
                if recorded is not None:
                    facts.reads[k] = (p, t, account, value, recorded)
                    facts.read_of[(t, account)] = (recorded, value)
        facts._index_versions(order)
        facts.failure = facts._first_failure()
        return facts

    def _last_installs(self) -> dict[str, tuple[int, int]]:
        """Account → (value, transaction) of its last install: the last WRITE in time order
        or, when the timestamps are not on one clock and the trace records versions, the one
        install of the account that no other install replaced (if there is exactly one)."""
        last: dict[str, tuple[int, int]] = {account: (value, t)
                                            for _, t, account, value, _ in self.writes}
        if self.one_clock or not self.versions:
            return last
        replaced = {(account, version) for _, _, account, _, version in self.writes}
        heads: dict[str, list[tuple[int, int]]] = {}
        for _, t, account, value, _ in self.writes:
            if (account, self.ids[t]) not in replaced:
                heads.setdefault(account, []).append((value, t))
        last.update((account, found[0]) for account, found in heads.items() if len(found) == 1)
        return last

    def _derive_final(self, given: Mapping[str, int] | None) -> None:
        self.failure = self._first_failure()
        self.final_source: str | None
        if given is not None:
            self.final_state: dict[str, int] | None = dict(given)
            self.final_source = "result"
        elif self.mode == ATOMIC and self.failure is not None:
            self.final_state = None
            self.final_source = None
        else:
            state = dict(self.batch.accounts)
            state.update((account, value) for account, (value, _) in self.last_install.items())
            self.final_state = state
            self.final_source = "trace"

    def _first_failure(self) -> int | None:
        """In an atomic batch: the first transaction in serial order that the trace shows
        failing (an ABORT that is not a skip)."""
        if self.mode != ATOMIC:
            return None
        return next((t for t in self.order if self.status(t) == ABORTED), None)

    def status(self, t: int) -> str:
        """What the trace shows: committed, aborted, skipped, unfinished or not run."""
        kind = self.end_kind[t]
        if kind == COMMIT:
            return COMMITTED
        if kind == ABORT:
            reason = self.reason[t] or ""
            return SKIPPED if reason.startswith(SKIP_PREFIX) else ABORTED
        return UNFINISHED if self.has_events[t] else NOT_RUN

    def at(self, p: int) -> str:
        """The time of event ``p`` relative to the first event, e.g. ``+12.5 µs``."""
        return f"+{(self.ts[p] - self.t0) / 1000:.1f} µs"

    def committed_writers(self) -> dict[str, list[int]]:
        """Account → serial ranks (ascending) of the committed transactions that installed
        it."""
        writers: dict[str, list[int]] = {}
        committed, rank = self.committed, self.rank
        for _, t, account, _, _ in self.writes:
            if committed[t]:
                writers.setdefault(account, []).append(rank[t])
        for rs in writers.values():
            rs.sort()
        return writers

    def version_name(self, t: int | None) -> str:
        """A transaction index as a version name (``init`` for ``None``)."""
        return INIT if t is None else self.ids[t]


def _rows(events: list[Event], tix: list[int | None], positions: list[int], last: int
          ) -> list[tuple[int, int, str, int, str]]:
    """Rows position, transaction, account, value, version (or replaced) of some events."""
    chosen = map(events.__getitem__, positions)
    return [(p, tix[p], e[5], e[6], e[last]) for p, e in zip(positions, chosen, strict=True)]


_TXN, _VERSION = itemgetter(1), itemgetter(4)
_AFTER, _NEGATIVE = attrgetter("after"), (0).__gt__


def _per_transaction(txns: Iterable[int], n: int) -> list[int]:
    """How often each of ``n`` transactions occurs in ``txns``."""
    counts = [0] * n
    for t, k in Counter(txns).items():
        counts[t] = k
    return counts


def derive_facts(batch: Batch, events: Sequence[Event] | Observed,
                 final_state: Mapping[str, int] | None = None,
                 outcomes: Mapping[str, tuple[str, str | None]] | None = None) -> Facts:
    """Index a batch and an execution for the checkers (``events`` or an :class:`Observed`)."""
    observed = events if isinstance(events, Observed) else Observed(events, final_state,
                                                                     outcomes)
    with paused_gc():
        return Facts(batch, observed)
