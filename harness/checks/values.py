"""Linearizability from values: strict serializability judged without the recorded versions.

Each committed transaction is one operation on the accounts it touched, taking effect at a
single point between its START and its COMMIT: it reads the values its READ events show
and installs the values its WRITE events show. Aborted transactions had no effect and are
left out; a transaction that started and never ended, with writes, may have taken effect
after its START or never. The state starts at the batch's initial balances. The execution
holds when some order of the operations consistent with real time (one that commits
before another starts comes first) lets every read see the latest value installed, or the
initial balance. The ``version`` and ``replaced`` fields are never read, so an executor
that records wrong versions over right values passes here.

Commit order is tried first: it is consistent with real time, and it fits for a correct
executor, so the search is usually not needed. Otherwise the transactions are split into
components that share accounts (P-compositionality), and each component whose values do
not fit commit order is searched with the WGL search of :mod:`harness.history.wgl`, within
:data:`SEARCH_BUDGET` seconds for the whole execution; a component not settled by then is
not judged (the verdict says so and never fails for it). When the timestamps are not on
one clock (see isolation: clock problem), real-time order is not used.

A verdict that holds gives the order found as its witness (the committed transactions):
commit order, with each searched component in the order the search found for it. Only a
transaction's last attempt is its operation: the READs and WRITEs of retried attempts are
not in :attr:`~harness.checks.facts.Facts.reads` and :attr:`~harness.checks.facts.Facts.writes`.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Mapping
from typing import Any

from harness.checks.anomalies import NON_LINEARIZABLE
from harness.checks.columns import values_fit
from harness.checks.facts import UNFINISHED, Facts
from harness.checks.serializability import NO_REAL_TIME
from harness.checks.verdict import VALUES, Collector, Verdict, plural
from harness.history.formats import Event as HistoryEvent
from harness.history.model import Input, Model
from harness.history.operations import Operation
from harness.history.wgl import PartitionResult, check

SEARCH_BUDGET = 1.0
"""Seconds the search may take over one execution's components, in all."""
TXN, READ_ONLY = "txn", "read"

Pairs = tuple[tuple[str, Any], ...]


class Accounts(Model):
    """Transactions over a map of accounts. A state is a tuple of ``(account, value)`` in
    the order of ``accounts``; an operation's value is ``(reads, writes)``, each a tuple of
    ``(account, value)`` pairs: it may take effect when every read matches the state, and
    then installs its writes."""

    name = "accounts"
    functions = frozenset({TXN, READ_ONLY})
    readonly = frozenset({READ_ONLY})

    def __init__(self, initial: Mapping[str, Any], accounts: list[str]) -> None:
        self.accounts = accounts
        self.initial = initial
        self.position = {a: i for i, a in enumerate(accounts)}

    def init(self) -> Hashable:
        """The initial balances of the accounts."""
        return tuple((a, self.initial.get(a)) for a in self.accounts)

    def step(self, state: Hashable, input: Input, output: str) -> tuple[bool, Hashable]:
        """Whether every read matches ``state``; the state with the writes installed."""
        reads, writes = input.value
        position = self.position
        for account, value in reads:
            if state[position[account]][1] != value:
                return False, state
        if not writes:
            return True, state
        after = list(state)
        for account, value in writes:
            after[position[account]] = (account, value)
        return True, tuple(after)

    def describe_state(self, state: Hashable) -> str:
        """``alice=70, bob=80``."""
        return _show(state)

    def refusal(self, state: Hashable, input: Input, output: str) -> str:
        """The reads that do not match ``state``."""
        current = dict(state)
        wrong = [f"{a}={v}" for a, v in input.value[0] if current[a] != v]
        now = [f"{a}={current[a]}" for a, v in input.value[0] if current[a] != v]
        return f"it read {', '.join(wrong)}, but there {', '.join(now)}"


def check_values(facts: Facts) -> Verdict:
    """Fit the values read and installed to one order consistent with real time."""
    c = Collector(VALUES)
    committed = facts.commit_order
    realtime = facts.one_clock
    note = "" if realtime else NO_REAL_TIME
    if facts.plain is not None and values_fit(facts, facts.plain, committed):
        misfits: list[int] = []
    else:
        reads, writes = _accesses(facts)
        misfits = _misfits(facts.batch.accounts, committed, reads, writes)
    counted = plural(len(committed), "committed transaction")
    if not misfits:
        return c.verdict(f"the values read and installed by {counted} fit commit order"
                         f"{', which is consistent with real time' if realtime else ''}"
                         f"{f'; {note}' if note else ''}", note=note,
                         witness=tuple(map(facts.ids.__getitem__, committed)))
    reads, writes = list(map(tuple, reads)), list(map(tuple, writes))
    unfinished = [t for t in range(len(facts.ids))
                  if writes[t] and facts.status(t) == UNFINISHED]
    components = _components([*committed, *unfinished], reads, writes)
    deadline = time.monotonic() + SEARCH_BUDGET
    unjudged, steps = [], 0
    found: list[tuple[list[int], PartitionResult]] = []
    for first in misfits:
        members = components.pop(first, None)
        if members is None:
            continue
        left = deadline - time.monotonic()
        part = _search(facts, members, reads, writes, left) if left > 0 else None
        if part is None or part.outcome == "unknown":
            unjudged.append(members)
            continue
        steps += part.steps
        if part.outcome == "not linearizable":
            _report(facts, part, c)
        else:
            found.append((members, part))
    if unjudged:
        size = max(map(len, unjudged))
        note = "; ".join(filter(None, (
            f"not judged: the search exceeded its budget ({SEARCH_BUDGET:g} s) on "
            f"{plural(len(unjudged), 'component')} (the largest of {plural(size, 'transaction')})",
            note)))
    if unjudged and not c.count:
        return c.verdict(note, applicable=False)
    return c.verdict(f"the values read and installed by {counted} fit an order consistent "
                     f"with real time, found by search ({plural(steps, 'step')})"
                     f"{f'; {note}' if note else ''}", note=note,
                     witness=None if unjudged else _witness(facts, committed, found))


def _witness(facts: Facts, committed: list[int],
             found: list[tuple[list[int], PartitionResult]]) -> tuple[str, ...] | None:
    """Commit order, each searched component's committed transactions in the order its
    search found (components share no account, so they interleave freely); None if a
    search did not order all of them."""
    order = list(committed)
    position = {t: i for i, t in enumerate(order)}
    for members, part in found:
        chosen = [t for t in (facts.index[op.process] for op in part.prefix) if t in position]
        slots = sorted(position[t] for t in members if t in position)
        if len(chosen) != len(slots):
            return None
        for slot, t in zip(slots, chosen, strict=True):
            order[slot] = t
    return tuple(facts.ids[t] for t in order)


def _accesses(facts: Facts) -> tuple[list[list[tuple[str, Any]]], list[list[tuple[str, Any]]]]:
    """Per transaction: the values it read and the values it installed (the last WRITE of
    each account), as lists of ``(account, value)`` pairs."""
    n = len(facts.ids)
    read: list[list[tuple[str, Any]]] = [[] for _ in range(n)]
    for _, t, account, value, _ in facts.reads:
        read[t].append((account, value))
    # write_of keeps each (transaction, account) where it was first written, with the last
    # value written
    written: list[list[tuple[str, Any]]] = [[] for _ in range(n)]
    for (t, account), (value, _) in facts.write_of.items():
        written[t].append((account, value))
    return read, written


def _misfits(initial: Mapping[str, Any], order: list[int],
             reads: list[list[tuple[str, Any]]], writes: list[list[tuple[str, Any]]]
             ) -> list[int]:
    """Replay ``order`` from the initial balances: for each read that does not match, the
    transaction that read it (in that order, once each)."""
    state = dict(initial)
    get, update = state.get, state.update
    misfits = []
    for t in order:
        for a, v in reads[t]:
            if get(a) != v:
                misfits.append(t)
                break
        written = writes[t]
        if written:
            update(written)
    return misfits


def _components(members: list[int], reads: list[Pairs], writes: list[Pairs]
                ) -> dict[int, list[int]]:
    """Transaction → the transactions of ``members`` that share accounts with it,
    transitively (one list object per component, in the order of ``members``)."""
    parent: dict[str, str] = {}

    def root(a: str) -> str:
        while parent.setdefault(a, a) != a:
            parent[a] = a = parent[parent[a]]
        return a

    for t in members:
        accounts = [a for a, _ in reads[t]] + [a for a, _ in writes[t]]
        for a in accounts[1:]:
            parent[root(a)] = root(accounts[0])
    groups: dict[str, list[int]] = {}
    found: dict[int, list[int]] = {}
    for t in members:
        touched = reads[t] or writes[t]
        if touched:
            found[t] = groups.setdefault(root(touched[0][0]), [])
            found[t].append(t)
    return found


def _search(facts: Facts, members: list[int], reads: list[Pairs], writes: list[Pairs],
            budget: float) -> PartitionResult:
    """The WGL search over one component's transactions, for at most ``budget`` seconds.
    A transaction runs from its START (the trace's start if it has none) to its COMMIT; an
    unfinished one never completes. Without one clock, all of them overlap."""
    ts, start, end, ids = facts.ts, facts.start, facts.end, facts.ids
    realtime = facts.one_clock
    history = []
    accounts = set()
    for t in members:
        value = (reads[t], writes[t])
        accounts.update(a for pairs in value for a, _ in pairs)
        f = TXN if writes[t] else READ_ONLY
        call = (ts[start[t]] if start[t] >= 0 else facts.t0) if realtime else 0
        history.append(HistoryEvent(ids[t], "invoke", f, value, None, call, t))
        if end[t] >= 0:
            ret = max(call, ts[end[t]]) if realtime else 1
            history.append(HistoryEvent(ids[t], "ok", f, value, None, ret, t))
    model = Accounts(facts.batch.accounts, sorted(accounts, key=_by_name))
    return check(history, model, timeout=budget).partitions[0]


def _by_name(account: object) -> tuple[str, str]:
    """Accounts in name order; an executor's event may name none, or not by a string."""
    return type(account).__name__, str(account)


def _report(facts: Facts, part: PartitionResult, c: Collector) -> None:
    """One violation: the transaction that cannot take effect, the longest order found,
    the account values there and what the transaction read instead."""
    culprit = part.culprit
    assert culprit is not None  # a search that is not linearizable was stuck somewhere
    index, initial = facts.index, facts.batch.accounts
    name = culprit.process
    state = dict(part.state)
    reads, _ = culprit.value
    wrong = [(a, v) for a, v in reads if state[a] != v]
    installed = {(a, v) for op in part.operations for a, v in op.value[1]}
    order = ", ".join(op.process for op in part.prefix) or "no transaction"
    span = _span(facts, index[name])
    if wrong:
        read = " and ".join(f"{a}={v}" + _never(a, v, (a, v) in installed, initial.get(a))
                            for a, v in wrong)
        was = " and ".join(_was(facts, part.prefix, state, a) for a, _ in wrong)
        message = (f"{name} read {read}, but no order consistent with real time lets it: in "
                   f"the longest order found ({order}), {was} when {name} had to take effect "
                   f"({name} {span})")
    else:
        message = (f"{name} cannot take effect in any order consistent with real time: after "
                   f"the longest order found ({order}) its reads fit, but then the other "
                   f"transactions cannot all take effect ({name} {span})")
    details = [f"order found: {order}", f"values there: {_show(part.state)}",
               *(f"{op.process} next: {why}" for op, why in part.candidates
                 if op is not culprit)]
    c.add(NON_LINEARIZABLE, message, txns=(name, *(op.process for op in part.prefix)),
          accounts=tuple(a for a, _ in wrong), details=tuple(details))


def _never(account: str, value: Any, installed: bool, initial: Any) -> str:
    """`` (a value no transaction installed in bob; initially 50)``, or nothing."""
    if installed or value == initial:
        return ""
    return f" (a value no transaction installed in {account}; initially {initial})"


def _was(facts: Facts, prefix: list[Operation], state: dict[str, Any], account: str) -> str:
    """``bob was 80 (installed by t1, which committed at +3.0 µs)``."""
    writer = next((op.process for op in reversed(prefix)
                   if any(a == account for a, _ in op.value[1])), None)
    if writer is None:
        return f"{account} was {state[account]} (the initial balance)"
    t = facts.index[writer]
    when = f"committed at {facts.at(facts.end[t])}" if facts.committed[t] else "never ended"
    return f"{account} was {state[account]} (installed by {writer}, which {when})"


def _span(facts: Facts, t: int) -> str:
    """``ran from +1.0 µs, committed at +4.0 µs`` (or what is known of it)."""
    start, end = facts.start[t], facts.end[t]
    began = f"from {facts.at(start)}" if start >= 0 else "from an unrecorded START"
    ended = f"committed at {facts.at(end)}" if end >= 0 and facts.committed[t] else \
        "never ended"
    return f"ran {began}, {ended}"


def _show(pairs: Pairs) -> str:
    """``alice=70, bob=80``."""
    return ", ".join(f"{a}={v}" for a, v in pairs)
