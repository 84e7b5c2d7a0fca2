"""User-defined operations that the mutant hunts put into batches (``call`` ops)."""

from __future__ import annotations

from aethel.operations import AccountView

ASSIGN = "harness.mutants.ops:assign"
TOUCH = "harness.mutants.ops:touch"


def assign(view: AccountView, account: str, value: int) -> None:
    """Blind write: set ``account`` to ``value`` without reading it."""
    view[account] = value


def touch(view: AccountView, account: str) -> None:
    """Add 1 to ``account``; when ``account`` was not declared this must abort."""
    view[account] = view[account] + 1
