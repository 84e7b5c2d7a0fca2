"""The serial order an execution is judged in: ``--order batch`` or ``--order any``.

``batch`` (the default) is what Aethel's engine promises: the result of serial execution in
batch order, moved only by ``after`` (:func:`~harness.checks.facts.serial_indices`).

``any`` is what a database promises: the result of *some* serial order of its committed
transactions. Strict serializability finds one, a witness order of the committed
transactions (from the recorded versions; without versions, linearizability (values) finds
one from the values). Every other transaction that ran is placed in it where its last
attempt belongs: it joins the serialization graph (an edge from the writer of each version
it read, one to the installer of the next version, real-time edges from what committed
before it started) and the whole is sorted, keeping the witness order as far as these edges
allow. If the reads of such transactions fit no order (one that aborted may have seen a
state no serial order has), or without versions, each is placed after what committed before
it started and after the writers of the versions it read (without versions: at the first
place from there where the values it read are the balances). Those that never started go
last; several at one place keep their serial order. Serial equivalence then runs the serial
oracle in that order, and isolation judges stale reads and reads from the future against
it. Dependency order is not judged (no batch order is promised). When no serial order fits
(a cycle), the serializability verdict fails and equivalence is not judged, so that one
anomaly is not blamed twice; isolation then judges only what needs no serial order.

Transactions that rolled back on their own (:func:`rolled_back_on_their_own`: the last
attempt aborted, and its operations fail with the same reason when run again on the values
it read: insufficient funds, an overflow, a failing user call; not a serialization failure
whose retries ran out) are not held to the witness order: a database promises a serial
order of committed transactions only (PostgreSQL: data read by a transaction is not valid
until it commits). Their reads join the graph only if an order still fits (else each is
placed just after what committed before it started and the writers it read from),
isolation judges them only for what needs no serial order (dirty reads, versions never
installed, wrong values, undeclared accesses, trace integrity), and the oracle runs them
for their outcome only: they contribute no writes, and an outcome of theirs serial
execution does not share is not compared. Both verdicts note what was not held to the
order, in words, without failing. Atomicity and conservation judge as always that they
left nothing behind. An atomic batch (whose failure is the batch's) or a stopped one has
none; ``batch`` order never looks for them: Aethel's engine promises every transaction
serial order.
"""

from __future__ import annotations

import heapq
import os
from bisect import bisect_left
from collections.abc import Callable, Collection, Sequence

from aethel.context import discard, run_transaction
from aethel.model import ATOMIC
from aethel.outcome import ABORTED
from aethel.trace import INIT
from harness.checks.atomicity import check_atomicity
from harness.checks.conservation import check_conservation
from harness.checks.equivalence import check_equivalence
from harness.checks.facts import Facts
from harness.checks.isolation import check_isolation
from harness.checks.oracle import OracleResult, serial_oracle
from harness.checks.serializability import check_serializability, edges
from harness.checks.values import check_values
from harness.checks.verdict import EQUIVALENCE, ORDER, SERIALIZABILITY, VALUES, Verdict

BATCH, ANY = "batch", "any"
ORDERS = (BATCH, ANY)
"""The values of ``--order``."""
NOT_BATCH_ORDER = "--order any: the executor promises some serial order, not batch order"
"""Why dependency order is not judged under ``--order any``."""
WITNESS_ORDER = "the witness order"
"""What the verdicts call the order they judge in under ``--order any``."""


def check_in_any_order(facts: Facts, oracle: OracleResult) -> list[Verdict]:
    """Every checker's verdict, in the order of
    :data:`~harness.checks.verdict.PROPERTIES`, judging against a witness serial order
    (``oracle``, the batch-order run, serves atomicity when no order fits)."""
    serializability = check_serializability(facts)
    values = check_values(facts)
    committed, found_by = witness(facts, serializability, values)
    own = rolled_back_on_their_own(facts)
    if committed is None:
        ordered = facts.reorder(None)
        equivalence = Verdict(EQUIVALENCE, True, f"not judged: {found_by}", applicable=False)
    else:
        order = full_order(facts, committed, own)
        ordered = facts.reorder(order, WITNESS_ORDER)
        ids = facts.ids
        oracle = serial_oracle(facts.batch, [ids[t] for t in order], [ids[t] for t in own])
        equivalence = check_equivalence(ordered, oracle, found_by, own)
    return [
        equivalence,
        Verdict(ORDER, True, f"not judged: {NOT_BATCH_ORDER}", applicable=False),
        check_isolation(ordered, own),
        serializability,
        check_conservation(facts),
        check_atomicity(ordered, oracle),
        values,
    ]


def witness(facts: Facts, serializability: Verdict, values: Verdict
            ) -> tuple[list[int] | None, str]:
    """The committed transactions in a serial order that fits them, and the property whose
    checker found it; else None and why no order is known, in words."""
    if serializability.applicable:
        if serializability.witness is None:
            return None, f"no serial order fits (see {SERIALIZABILITY})"
        return [facts.index[t] for t in serializability.witness], SERIALIZABILITY
    if values.witness is not None:
        return [facts.index[t] for t in values.witness], VALUES
    if not values.ok:
        return None, f"no serial order fits (see {VALUES})"
    return None, (f"no serial order was found: {SERIALIZABILITY} needs versions and {VALUES} "
                  "could not judge the values")


def rolled_back_on_their_own(facts: Facts) -> list[int]:
    """The transactions (indices, in serial order) whose last attempt rolled back on its
    own: the trace ends it with an ABORT (not a skip) whose reason is the failure its
    operations meet when run again on the values it read (insufficient funds, an overflow,
    a failing user call; not a serialization failure, nor a reason its reads do not
    explain). None in an atomic batch (its failure is the batch's) or a stopped one."""
    if facts.mode == ATOMIC or facts.stopped is not None:
        return []
    pid = os.getpid()
    read: dict[int, dict[str, tuple[int, str]]] = {}
    for (t, account), (version, value) in facts.read_of.items():
        read.setdefault(t, {})[account] = (value, version or INIT)
    own = []
    for t in facts.order:
        if facts.status(t) != ABORTED:
            continue
        result = run_transaction(0, facts.txs[t], read.get(t, {}), 0, pid, discard,
                                 plain=True)
        if not result.ok and result.reason == facts.reason[t]:
            own.append(t)
    return own


def full_order(facts: Facts, committed: Sequence[int], own: Collection[int] = ()
               ) -> list[int]:
    """Every transaction (indices): ``committed`` in its order, each other one placed as the
    module says (several at one place in serial order).

    With versions, the other transactions that ran join the serialization graph (an edge
    from the writer of each version they read, one to the installer of the next version,
    real-time edges from what committed before they started) and the whole is sorted, each
    committed transaction keeping its place in ``committed`` as far as those edges allow. If
    that fails, those of ``own`` (rolled back on their own) are left out of the graph and
    each is placed at its floor; if it still fails, every one is placed at its floor."""
    floors = _floors(facts, committed)
    if facts.versions:
        order = _sorted_with(facts, committed, floors)
        if order is not None:
            return order
        places = {t: floors.pop(t) for t in own if t in floors}
        if places:
            order = _sorted_with(facts, committed, floors)
            if order is not None:
                return _placed(order, committed, places)
            floors.update(places)
    places_at: list[list[int]] = [[] for _ in range(len(committed) + 1)]
    never: list[int] = []
    for t in facts.order:
        if t in floors:
            places_at[floors[t]].append(t)
        elif not facts.committed[t]:
            never.append(t)
    order = []
    for k, t in enumerate(committed):
        order.extend(places_at[k])
        order.append(t)
    order.extend(places_at[-1])
    order.extend(never)
    return order


def _placed(order: list[int], committed: Sequence[int], places: dict[int, int]) -> list[int]:
    """``order`` with each transaction of ``places`` (in serial order, as its keys are) just
    after the last of the first ``place`` transactions of ``committed`` in it (first if
    ``place`` is 0)."""
    if not places:
        return order
    order = [t for t in order if t not in places]
    position = {t: i for i, t in enumerate(order)}
    after = [-1]
    for t in committed:
        after.append(max(after[-1], position[t]))
    anchored: dict[int, list[int]] = {}
    for t, k in places.items():
        anchored.setdefault(after[k], []).append(t)
    placed = list(anchored.get(-1, ()))
    for i, t in enumerate(order):
        placed.append(t)
        placed.extend(anchored.get(i, ()))
    return placed


def _floors(facts: Facts, committed: Sequence[int]) -> dict[int, int]:
    """For every transaction that ran and did not commit, the earliest place it may take in
    ``committed`` (after that many of them): after what committed before it started and,
    with versions, after the writers of the versions it read; without them, at the first
    place from there where the values it read are the balances."""
    position = {t: k for k, t in enumerate(committed)}
    after = _real_time_floor(facts, committed)
    floors = {t: after(t) for t in range(len(facts.ids))
              if facts.has_events[t] and t not in position}
    if not facts.versions:
        by_values = _ValueIndex(facts, committed)
        return {t: by_values.first_fit(t, floor) for t, floor in floors.items()}
    for _, t, _, _, version in facts.reads:
        u = position.get(facts.index.get(version, -1))
        if u is not None and t in floors:
            floors[t] = max(floors[t], u + 1)
    return floors


def _sorted_with(facts: Facts, committed: Sequence[int], floors: dict[int, int]
                 ) -> list[int] | None:
    """``committed`` and the transactions of ``floors`` in one order of the serialization
    graph with real-time order (into the latter too) and the edges of what the latter
    read: each committed transaction keyed by its place in ``committed``, each other one by
    its floor, smallest key first; None if there is a cycle. The transactions that never ran
    go last."""
    n = len(facts.ids)
    us, vs, _ = edges(facts, facts.one_clock, floors)
    succ: list[list[int]] = [[] for _ in range(n)]
    indeg = [0] * n
    for u, v in zip(us, vs, strict=True):
        succ[u].append(v)
        indeg[v] += 1
    installers: dict[tuple[str, str], list[int]] = {}
    for _, w, account, _, replaced in facts.writes:
        if facts.committed[w]:
            installers.setdefault((account, replaced), []).append(w)
    for _, t, account, _, version in facts.reads:
        if t not in floors:
            continue
        u = facts.index.get(version)
        if u is not None and facts.committed[u]:
            succ[u].append(t)
            indeg[t] += 1
        for w in installers.get((account, version), ()):
            if w != t:
                succ[t].append(w)
                indeg[w] += 1
    key = {t: (k, 0, 0) for k, t in enumerate(committed)}
    key.update((t, (floor, 1, facts.rank[t])) for t, floor in floors.items())
    ready = [(key[t], t) for t in key if not indeg[t]]
    heapq.heapify(ready)
    order = []
    while ready:
        _, u = heapq.heappop(ready)
        order.append(u)
        for v in succ[u]:
            indeg[v] -= 1
            if not indeg[v] and v in key:
                heapq.heappush(ready, (key[v], v))
    if len(order) < len(key):
        return None
    return order + [t for t in facts.order if t not in key]


def _real_time_floor(facts: Facts, committed: Sequence[int]) -> Callable[[int], int]:
    """A function giving, for a transaction, the place just after every transaction of
    ``committed`` that committed before it started (0 when the timestamps are not on one
    clock)."""
    if not facts.one_clock:
        return lambda t: 0
    ts, end, start = facts.ts, facts.end, facts.start
    ends = sorted((ts[end[u]], k) for k, u in enumerate(committed))
    stamps = [stamp for stamp, _ in ends]
    highest, floors = 0, [0]
    for _, k in ends:
        highest = max(highest, k + 1)
        floors.append(highest)
    return lambda t: floors[bisect_left(stamps, ts[start[t]])] if start[t] >= 0 else 0


class _ValueIndex:
    """The balances along ``committed`` (each transaction's installs, by value): where the
    values a transaction read are all the balances."""

    def __init__(self, facts: Facts, committed: Sequence[int]) -> None:
        self.facts = facts
        self.installs: dict[str, tuple[list[int], list[int]]] = {}
        for k, t in enumerate(committed):
            for account in facts.txs[t].writes:
                install = facts.write_of.get((t, account))
                if install is not None:
                    places, values = self.installs.setdefault(account, ([], []))
                    places.append(k + 1)
                    values.append(install[0])
        self.reads: dict[int, list[tuple[str, int]]] = {}
        for _, t, account, value, _ in facts.reads:
            self.reads.setdefault(t, []).append((account, value))

    def value_at(self, account: str, place: int) -> int | None:
        """``account``'s balance at ``place`` (after that many committed transactions)."""
        places, values = self.installs.get(account, ((), ()))
        i = bisect_left(places, place + 1)
        return values[i - 1] if i else self.facts.batch.accounts.get(account)

    def first_fit(self, t: int, floor: int) -> int:
        """The first place from ``floor`` where every value ``t`` read is the balance
        (``floor`` if there is none)."""
        reads = self.reads.get(t, [])
        candidates = {floor, *(p for account, _ in reads
                               for p in self.installs.get(account, ((), ()))[0] if p > floor)}
        for place in sorted(candidates):
            if all(self.value_at(account, place) == value for account, value in reads):
                return place
        return floor
