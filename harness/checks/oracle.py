"""The serial oracle: the batch run one transaction at a time, in serial order (or in an
order given, such as a witness order under ``--order any``, where the transactions that
rolled back on their own in the execution judged run for their outcome only: what they
would write is not applied).

It shares the semantics of the operations (:func:`aethel.context.run_transaction`) with the
engine and nothing else: no scheduler, no pool, no install step, no undo log. The state is
a plain dict; a committed transaction's writes are applied right after it runs. This is a
deliberate second implementation of execution, independent of :mod:`aethel.executor`.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from aethel.context import discard, run_transaction
from aethel.model import ATOMIC, Batch
from aethel.outcome import ABORTED, COMMITTED, ROLLED_BACK, SKIPPED
from aethel.trace import INIT
from harness.checks.facts import serial_indices


@dataclass(frozen=True)
class OracleResult:
    """Serial execution: the order, final balances, outcomes ``id → (status, reason)``,
    the last writer of every account (``init`` if none) and the failing transaction of an
    atomic batch."""

    order: tuple[str, ...]
    final_state: dict[str, int]
    outcomes: dict[str, tuple[str, str | None]]
    last_writer: dict[str, str]
    failed: str | None

    @property
    def committed(self) -> bool:
        """True unless an atomic batch failed."""
        return self.failed is None


def serial_oracle(batch: Batch, order: Sequence[str] | None = None,
                  rolled_back: Collection[str] = ()) -> OracleResult:
    """Run ``batch`` serially and report what serial execution gives: in serial order, or in
    ``order`` (every transaction id of the batch once; ``after`` is then not followed). The
    transactions of ``rolled_back`` (ids; independent mode) run at their place for their
    outcome only: they leave nothing behind, whether serial execution commits them or not."""
    order = [batch.transactions[i] for i in _indices(batch, order)]
    rolled_back = frozenset(rolled_back) if batch.mode != ATOMIC else frozenset()
    state = dict(batch.accounts)
    writer = dict.fromkeys(batch.accounts, INIT)
    outcomes: dict[str, tuple[str, str | None]] = {}
    pid = os.getpid()
    failed = None
    for r, tx in enumerate(order):
        snapshot = {a: (state[a], writer[a]) for a in tx.accounts}
        result = run_transaction(r, tx, snapshot, 0, pid, discard, plain=True)
        if result.ok:
            if tx.id not in rolled_back:
                state.update(result.writes)
                writer.update(dict.fromkeys(result.writes, tx.id))
            outcomes[tx.id] = (COMMITTED, None)
            continue
        outcomes[tx.id] = (ABORTED, result.reason)
        if batch.mode == ATOMIC:
            failed = tx.id
            for earlier in order[:r]:
                outcomes[earlier.id] = (ROLLED_BACK, None)
            for later in order[r + 1:]:
                outcomes[later.id] = (SKIPPED, None)
            state = dict(batch.accounts)
            writer = dict.fromkeys(batch.accounts, INIT)
            break
    return OracleResult(tuple(tx.id for tx in order), state,
                        {tx.id: outcomes[tx.id] for tx in batch.transactions}, writer, failed)


def serial_state(batch: Batch, included: Collection[str],
                 order: Sequence[int] | None = None) -> dict[str, int]:
    """The balances after only the ``included`` transactions, run one at a time in serial
    order (or in ``order``, by index) from the initial balances (one that fails there leaves
    nothing behind)."""
    state = dict(batch.accounts)
    writer = dict.fromkeys(batch.accounts, INIT)
    pid = os.getpid()
    for r, i in enumerate(serial_indices(batch) if order is None else order):
        tx = batch.transactions[i]
        if tx.id not in included:
            continue
        result = run_transaction(r, tx, {a: (state[a], writer[a]) for a in tx.accounts}, 0,
                                 pid, discard, plain=True)
        if result.ok:
            state.update(result.writes)
            writer.update(dict.fromkeys(result.writes, tx.id))
    return state


def _indices(batch: Batch, order: Sequence[str] | None) -> list[int]:
    """The positions in the batch of the transactions of ``order`` (serial order if None);
    :class:`ValueError` unless it names every transaction once."""
    if order is None:
        return serial_indices(batch)
    index = {tx.id: i for i, tx in enumerate(batch.transactions)}
    indices = [index.get(t, -1) for t in order]
    if -1 in indices or len(set(indices)) != len(index) or len(indices) != len(index):
        raise ValueError(f"an order must name each of the batch's {len(index)} transactions "
                         f"once, got {list(order)!r}")
    return indices
