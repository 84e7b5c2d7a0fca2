"""Transactions and batches.

A :class:`Batch` holds the initial balances, the transactions in their serial (batch)
order and the batch mode. Constructing one validates everything that does not need the
dependency graph: names (account names and transaction ids), amounts, the floors of
guarded withdrawals, duplicate ids, unknown accounts and unknown ``after`` ids.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from aethel.errors import (
    BatchFormatError,
    DuplicateTransactionError,
    UnknownAccountError,
    UnknownDependencyError,
)
from aethel.operations import GuardedWithdraw, Operation

ATOMIC = "atomic"
INDEPENDENT = "independent"
MODES = (ATOMIC, INDEPENDENT)
MAX_AMOUNT = 2**63 - 1
"""The largest balance or amount: a signed 64-bit integer's maximum."""
_NO_ACCOUNTS: frozenset[str] = frozenset()
"""The one empty account set every transaction without reads (or writes) shares."""


@dataclass(frozen=True, slots=True)
class Transaction:
    """A transaction: ordered operations and its declared accounts.

    ``reads`` and ``writes`` are the accounts of its operations plus any extra accounts
    given here. ``after`` lists explicit dependencies (ids that must commit first).
    """

    id: str
    ops: tuple[Operation, ...]
    reads: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()
    after: tuple[str, ...] = ()
    accounts: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ops = tuple(self.ops)
        reads = set(self.reads)
        writes = set(self.writes)
        for op in ops:
            reads.update(op.reads)
            writes.update(op.writes)
        frozen_reads = frozenset(reads) if reads else _NO_ACCOUNTS
        frozen_writes = frozen_reads if writes == reads else \
            frozenset(writes) if writes else _NO_ACCOUNTS
        object.__setattr__(self, "ops", ops)
        object.__setattr__(self, "reads", frozen_reads)
        object.__setattr__(self, "writes", frozen_writes)
        object.__setattr__(self, "after", tuple(self.after))
        object.__setattr__(self, "accounts", frozen_reads if writes <= reads
                           else frozenset(reads | writes))

    def cost_us(self) -> float:
        """Estimated cost in microseconds, used for critical-path estimates."""
        ops = self.ops
        if len(ops) == 1:
            return ops[0].cost_us() or 1.0
        return sum(op.cost_us() for op in ops) or 1.0


@dataclass(frozen=True, slots=True)
class Batch:
    """Initial balances, transactions in batch order, and the mode (atomic or independent)."""

    accounts: Mapping[str, int]
    transactions: tuple[Transaction, ...]
    mode: str = INDEPENDENT

    def __post_init__(self) -> None:
        object.__setattr__(self, "accounts", dict(self.accounts))
        object.__setattr__(self, "transactions", tuple(self.transactions))
        if self.mode not in MODES:
            raise BatchFormatError(f"must be one of {', '.join(MODES)}", "mode")
        check_names(list(self.accounts), lambda _: "accounts")
        check_names([tx.id for tx in self.transactions], lambda i: f"transactions[{i}].id")
        for name, balance in self.accounts.items():
            check_amount(balance, f"accounts.{name}")
        _check_transactions(self.transactions, self.accounts)

    def __len__(self) -> int:
        return len(self.transactions)

    @property
    def ids(self) -> list[str]:
        return [tx.id for tx in self.transactions]

    def with_mode(self, mode: str) -> Batch:
        """The same batch in another mode."""
        return Batch(self.accounts, self.transactions, mode)


def check_amount(value: object, where: str) -> int:
    """Return ``value`` if it is an integer in [0, 2^63-1], else raise naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise BatchFormatError(f"must be an integer, got {value!r}", where)
    if not 0 <= value <= MAX_AMOUNT:
        raise BatchFormatError(f"must be in [0, 2^63-1], got {value}", where)
    return value


def check_floor(value: object, where: str) -> int:
    """Return ``value`` if it is an integer in [-(2^63-1), 2^63-1], else raise naming
    ``where``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise BatchFormatError(f"must be an integer, got {value!r}", where)
    if not -MAX_AMOUNT <= value <= MAX_AMOUNT:
        raise BatchFormatError(f"must be in [-(2^63-1), 2^63-1], got {value}", where)
    return value


_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs"})


def check_names(names: list[str], where: Callable[[int], str]) -> None:
    """Raise naming ``where(i)`` unless every name is a non-empty string without control,
    format or surrogate characters, and no two names differ only in Unicode normalisation
    (NFC)."""
    normal: dict[str, str] = {}
    for index, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise BatchFormatError(f"must be a non-empty string, got {name!r}", where(index))
        if name.isascii() and name.isprintable():
            continue  # the common case: nothing to normalise
        if any(unicodedata.category(ch) in _UNPRINTABLE for ch in name):
            raise BatchFormatError(f"{name!r} contains a control, format or surrogate "
                                   "character", where(index))
        normal.setdefault(unicodedata.normalize("NFC", name), name)
    if not normal:
        return
    for index, name in enumerate(names):
        other = normal.get(name if name.isascii() else unicodedata.normalize("NFC", name))
        if other is not None and other != name:
            raise BatchFormatError(f"{ascii(other)} and {ascii(name)} are the same name "
                                   "after Unicode normalisation", where(index))


def _check_transactions(transactions: Iterable[Transaction], accounts: Mapping[str, int]) -> None:
    seen: dict[str, int] = {}
    txs = list(transactions)
    for index, tx in enumerate(txs):
        if tx.id in seen:
            raise DuplicateTransactionError(
                f"duplicate transaction id {tx.id!r} (also at transactions[{seen[tx.id]}])",
                f"transactions[{index}].id",
            )
        seen[tx.id] = index
        for account in sorted(tx.accounts):
            if account not in accounts:
                raise UnknownAccountError(
                    f"unknown account {account!r} (not in 'accounts')", f"transactions[{index}]"
                )
        for op_index, op in enumerate(tx.ops):
            where = f"transactions[{index}].ops[{op_index}]"
            check_amount(getattr(op, "amount", 0), f"{where}.amount")
            if isinstance(op, GuardedWithdraw):
                check_floor(op.floor, f"{where}.floor")
    for index, tx in enumerate(txs):
        for dep in tx.after:
            if dep not in seen:
                raise UnknownDependencyError(
                    f"'after' names unknown transaction {dep!r}", f"transactions[{index}].after"
                )
