"""Conservation: money is neither created nor destroyed, and no balance is ever negative.

* Per committed transaction without user-defined (``call``) operations: the sum of what it
  installed minus the sum of what it read of those accounts equals its deposits minus its
  withdrawals (transfers conserve the sum). A guarded withdrawal withdraws only if its guard
  passes, so a transaction with one is run again on the values it read to learn its change;
  without those values it is judged like one with a ``call``.
* The final balances sum to the initial sum plus the deposits minus the withdrawals of the
  committed transactions (nothing, if an atomic batch failed). Not applicable when a
  committed transaction contains a ``call`` operation (user code may change the sum), or
  when the final state is unknown, or when the batch was stopped (atomicity judges the
  final state of a stopped batch).
* No initial, read, installed or final balance is negative.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import compress
from operator import itemgetter

from aethel.context import discard, run_transaction
from aethel.model import ATOMIC, Transaction
from aethel.operations import Call, Deposit, GuardedWithdraw, Withdraw
from aethel.trace import INIT
from harness.checks.anomalies import CREATED, NEGATIVE
from harness.checks.columns import changes, negative
from harness.checks.facts import Facts
from harness.checks.verdict import CONSERVATION, Collector, Verdict, plural


def net_change(tx: Transaction, read: Mapping[str, int] | None = None) -> int | None:
    """What ``tx`` adds to the sum of balances, given the values it ``read`` (needed only
    for a guarded withdrawal), or ``None`` if it has user-defined code or the values it
    needs are not known."""
    total, guarded = _static_change(tx)
    return _replayed_change(tx, read or {}) if guarded and total is not None else total


def _static_change(tx: Transaction) -> tuple[int | None, bool]:
    """Deposits minus withdrawals of ``tx`` (``None`` if it has user-defined code), and
    whether it has a guarded withdrawal (then its change depends on what it read)."""
    total = 0
    guarded = False
    for op in tx.ops:
        call, sign, guards = _ROLES.get(type(op)) or _role(op)
        if call:
            return None, guarded
        if sign > 0:
            total += op.amount
        elif sign < 0:
            total -= op.amount
        guarded |= guards
    return total, guarded


_ROLES: dict[type, tuple[bool, int, bool]] = {}
"""Operation class → (user-defined code, +1 deposit / -1 withdrawal / 0, guarded withdrawal):
:func:`_role`, learnt from the first operation of each class."""


def _role(op: object) -> tuple[bool, int, bool]:
    """What operations of the class of ``op`` do to the sum of balances (``isinstance``)."""
    sign = 1 if isinstance(op, Deposit) else -1 if isinstance(op, Withdraw) else 0
    role = (isinstance(op, Call), sign, isinstance(op, GuardedWithdraw))
    _ROLES[type(op)] = role
    return role


def _replayed_change(tx: Transaction, read: Mapping[str, int]) -> int | None:
    """What ``tx`` adds to the sum of balances when run on the values it ``read``; ``None``
    if it needs one it did not read, or fails on them."""
    result = run_transaction(0, tx, {a: (v, INIT) for a, v in read.items()}, 0, 0,
                             discard, plain=True)
    if not result.ok:
        return None
    return sum(value - read[account] for account, value in result.writes.items())


def _values_read(read_of: Mapping[tuple[int, str], tuple[str, int]]
                 ) -> dict[int, dict[str, int]]:
    """Transaction → account → the value it read (where one was recorded)."""
    values_read: dict[int, dict[str, int]] = {}
    for (t, account), (_, value) in read_of.items():
        if _integer(value):
            values_read.setdefault(t, {})[account] = value
    return values_read


def _negative(rows: list[tuple[int, int, str, int, str]]) -> bool:
    """Whether any READ or WRITE row holds a negative value."""
    return min(filter(_integer, map(itemgetter(3), rows)), default=0) < 0


def _integer(value: object) -> bool:
    """Whether ``value`` is a balance: an executor's event or final state may hold anything
    (None where nothing was recorded), and what is not an int is not summed or compared."""
    return isinstance(value, int)


def _changes(facts: Facts) -> tuple[list[int], list[bool]]:
    """Per transaction: the sum of what it installed minus what it read of those accounts,
    and whether that is unknown (an install of an account it has no value read of)."""
    read_of = facts.read_of
    delta = [0] * len(facts.ids)
    unknown = [False] * len(facts.ids)
    for _, t, account, value, _ in facts.writes:
        read = read_of.get((t, account))
        if read is None or not _integer(read[1]) or not _integer(value):
            unknown[t] = True
        else:
            delta[t] += value - read[1]
    return delta, unknown


def check_conservation(facts: Facts) -> Verdict:
    """Per-transaction and whole-batch sums, and non-negative balances."""
    c = Collector(CONSERVATION)
    ids, txs, committed, plain = facts.ids, facts.txs, facts.committed, facts.plain
    for account, value in facts.batch.accounts.items():
        if value < 0:
            c.add(NEGATIVE, f"{account} starts at {value}", accounts=(account,))
    if negative(plain.rv) if plain is not None else _negative(facts.reads):
        for _, t, account, value, _ in facts.reads:
            if _integer(value) and value < 0:
                c.add(NEGATIVE, f"{ids[t]} read {account}={value}", (ids[t],), (account,))
    if negative(plain.wv) if plain is not None else _negative(facts.writes):
        for _, t, account, value, _ in facts.writes:
            if _integer(value) and value < 0:
                c.add(NEGATIVE, f"{ids[t]} installed {account}={value}", (ids[t],),
                      (account,))
    found = changes(facts, plain) if plain is not None else None
    delta, unknown = found if found is not None else _changes(facts)
    values_read: dict[int, dict[str, int]] | None = None
    expected_total = 0
    opaque = []
    checked = 0
    for t in compress(range(len(txs)), committed):
        tx = txs[t]
        want, guarded = _static_change(tx)
        if guarded and want is not None:
            if values_read is None:
                values_read = _values_read(facts.read_of)
            want = _replayed_change(tx, values_read.get(t, {}))
        if want is None:
            opaque.append(ids[t])
            continue
        expected_total += want
        if unknown[t]:
            continue
        checked += 1
        got = delta[t]
        if got != want:
            c.add(CREATED, f"{ids[t]} changed the sum of the balances it installed by {got:+d}, "
                  f"but its operations change it by {want:+d}", (ids[t],),
                  tuple(sorted(txs[t].writes)))
    final = facts.final_state
    if final is not None:
        for account, value in sorted(final.items()):
            if _integer(value) and value < 0:
                c.add(NEGATIVE, f"{account} ends at {value}", accounts=(account,))
    if facts.stopped is not None:
        total_note = (f"; the final sum is not checked here: the executor reported "
                      f"{facts.stopped}, so its final balances are judged under atomicity")
    elif final is not None:
        failed = facts.mode == ATOMIC and facts.failure is not None
        initial = sum(facts.batch.accounts.values())
        want_total = initial if failed else initial + expected_total
        if opaque and not failed:
            total_note = (f"; the final sum is not checked: committed transactions "
                          f"{', '.join(opaque[:5])} run user-defined operations")
        elif not all(map(_integer, final.values())):
            total_note = "; the final sum is not checked: a final balance is not an integer"
        else:
            got_total = sum(final.values())
            if got_total != want_total:
                how = "the atomic batch failed, so nothing may change" if failed else \
                    f"deposits minus withdrawals of committed transactions: {expected_total:+d}"
                c.add(CREATED, f"the balances sum to {got_total} at the end, but {want_total} "
                      f"was expected (initially {initial}; {how})")
            total_note = f"; the balances sum to {got_total} as expected"
    else:
        total_note = "; the final sum is not checked: the final state is unknown"
    return c.verdict(f"{plural(checked, 'committed transaction')} changed the total exactly by "
                     f"their deposits minus withdrawals; no balance is negative{total_note}")
