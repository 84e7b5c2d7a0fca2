"""Sample user-defined operations, referenced from docs/examples as ``aethel.examples:NAME``.

A user-defined operation is ``function(view, **args)``: ``view`` maps only the accounts
the operation declared to their balances; assigning to a declared write account sets it.
"""

from __future__ import annotations

import time

from aethel.operations import AccountView


def apply_fee(view: AccountView, percent: int, payer: str = "alice", collector: str = "carol"
              ) -> None:
    """Move ``percent``% of ``payer``'s balance to ``collector``."""
    fee = view[payer] * percent // 100
    view[payer] = view[payer] - fee
    view[collector] = view[collector] + fee


def assign(view: AccountView, account: str, value: int) -> None:
    """Blind write: set ``account`` to ``value`` without reading it."""
    view[account] = value


def fail(view: AccountView, message: str = "user operation failed") -> None:
    """Always raise: a user operation that aborts its transaction."""
    raise RuntimeError(message)


def hang(view: AccountView, seconds: float = 3600.0) -> None:
    """Block for ``seconds`` in a way no cancellation reaches: a hung user operation."""
    time.sleep(seconds)


def touch_undeclared(view: AccountView, account: str = "mallory") -> None:
    """Read an account the operation did not declare: must fail with UndeclaredAccessError."""
    view[account] = view[account] + 1
