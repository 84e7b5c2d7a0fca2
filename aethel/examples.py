"""Sample user-defined operations, referenced from docs/examples as ``aethel.examples:NAME``.

A user-defined operation is ``function(view, **args)``: ``view`` maps only the accounts
the operation declared to their balances; assigning to a declared write account sets it.
"""

from __future__ import annotations

from aethel.operations import AccountView


def apply_fee(view: AccountView, percent: int, payer: str = "alice", collector: str = "carol"
              ) -> None:
    """Move ``percent``% of ``payer``'s balance to ``collector``."""
    fee = view[payer] * percent // 100
    view[payer] = view[payer] - fee
    view[collector] = view[collector] + fee


def fail(view: AccountView, message: str = "user operation failed") -> None:
    """Always raise: a user operation that aborts its transaction."""
    raise RuntimeError(message)
