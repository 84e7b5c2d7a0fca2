"""Outcomes: what an execution reports for each transaction of a batch."""

from __future__ import annotations

from dataclasses import dataclass

COMMITTED, ABORTED, ROLLED_BACK, SKIPPED = "committed", "aborted", "rolled_back", "skipped"
STATUSES = (COMMITTED, ABORTED, ROLLED_BACK, SKIPPED)
"""Every outcome status."""


@dataclass(frozen=True)
class Outcome:
    """A transaction's outcome: committed, aborted (with reason), rolled_back or skipped.

    In an atomic batch that failed, transactions before the failing one (in serial order)
    are ``rolled_back``, the failing one is ``aborted``, later ones are ``skipped``: exactly
    what serial execution would report.
    """

    status: str
    reason: str | None = None
