"""Timeout examples: batches on which the executor under test certainly times out.

A timeout example is a generated batch, made atomic, behind one slow transaction
(:data:`SLOW_ID`: a :data:`SLOW_MS` ms sleep on no account, first in batch order), run by
an executor made with ``timeout=EXECUTOR_TIMEOUT`` when its factory takes that keyword. The
sleep outlasts the timeout, so an executor that honours its timeout stops the batch whatever
the load, and must then restore the initial balances. The serial oracle runs the batch
without the sleep (:func:`for_the_oracle`): a sleep on no account changes no balance and no
outcome of serial execution, and waiting it out would leave the job's core idle. The batch
itself says whether it is a timeout example (:func:`executor_timeout`), so that shrinking,
the removal of single transactions and ``aethel replay`` run it with the timeout too. Which
examples are timeout examples depends on the seed and the shard only
(:func:`timeout_position`): one in each even shard among the first :data:`TIMEOUT_SHARDS`
(each costs the executor its timeout and a process backend the replacement of its stopped
worker, so their number is bounded).
"""

from __future__ import annotations

from dataclasses import replace

from aethel.model import ATOMIC, Batch, Transaction
from aethel.operations import Sleep

SLOW_ID = "slow"
SLOW_MS = 100.0
"""The slow transaction's sleep: an executor waits for its timeout only, the serial oracle
not at all."""
EXECUTOR_TIMEOUT = 0.05
"""Seconds: the ``timeout`` a campaign asks the executor for on a timeout example."""
TIMEOUT_SHARDS = 24
"""Only the even shards among the first 24 have a timeout example: 12 in a default campaign,
since a rollback bug shows only when some transaction commits before the stop, which many
batches (an early failure, reads only) do not give."""
_SLOW_OPS = (Sleep(SLOW_MS),)
_ORACLE_OPS = (Sleep(0.0),)


def with_slow_transaction(batch: Batch) -> Batch:
    """``batch``, made atomic, behind the slow transaction."""
    return Batch(batch.accounts, (Transaction(SLOW_ID, _SLOW_OPS), *batch.transactions),
                 ATOMIC)


def is_slow_transaction(tx: Transaction) -> bool:
    """Whether ``tx`` is the slow transaction of a timeout example."""
    return tx.id == SLOW_ID and tx.ops == _SLOW_OPS


def for_the_oracle(batch: Batch) -> Batch:
    """``batch`` as the serial oracle runs it: the slow transaction (if any) sleeps 0 ms.
    Its sleep touches no account and, run serially, always ends: every balance, outcome and
    last writer of serial execution is the same with it or without it."""
    if not any(is_slow_transaction(tx) for tx in batch.transactions):
        return batch
    return replace(batch, transactions=tuple(
        replace(tx, ops=_ORACLE_OPS) if is_slow_transaction(tx) else tx
        for tx in batch.transactions))


def executor_timeout(batch: Batch) -> float | None:
    """The timeout to ask the executor for: :data:`EXECUTOR_TIMEOUT` if ``batch`` holds the
    slow transaction, else ``None``."""
    slow = any(is_slow_transaction(tx) for tx in batch.transactions)
    return EXECUTOR_TIMEOUT if slow else None


def timeout_position(shard: int, shard_seed: int, examples: int) -> int | None:
    """Which example of shard ``shard`` (of ``examples``) is its timeout example, if any:
    in an even shard among the first :data:`TIMEOUT_SHARDS`, one in its second half
    (Hypothesis keeps the first examples small), chosen by the shard's seed."""
    if shard % 2 or shard >= TIMEOUT_SHARDS:
        return None
    half = examples // 2
    return half + shard_seed % (examples - half)

