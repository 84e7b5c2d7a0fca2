"""Timeout rollback: a batch that exceeds its timeout is rolled back exactly, every started
transaction ends in the trace, and the executor then runs the next batch correctly.

Validates the engine requirement on timeouts (roll back, raise with completed/pending
counts, executor usable afterwards). Each example waits for a real timeout, so the example
count is fixed and small.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from aethel.errors import ExecutionTimeout
from aethel.executor import ParallelExecutor
from aethel.model import Batch, Transaction
from aethel.operations import Sleep
from aethel.trace import ABORT, COMMIT, START
from harness.campaign.strategies import batches

TIMEOUT = 1.0
"""Long enough for the batch after a timeout on a loaded 2-core machine (tens of ms there),
short enough that waiting for each example's timeout stays cheap."""


def test_timeout_rolls_back_and_recovers(executor, executors):
    serial = executors["serial"]
    with ParallelExecutor(executor.backend, 2, executor.schedule, timeout=TIMEOUT) as timed:

        @settings(max_examples=6)
        @given(batch=batches(max_transactions=10, contention="high", modes=("independent",)),
               position=st.integers(0, 10))
        def check(batch, position):
            txs = list(batch.transactions)
            txs.insert(min(position, len(txs)), Transaction("slow", (Sleep(60_000),)))
            try:
                timed.execute(Batch(batch.accounts, txs, batch.mode))
            except ExecutionTimeout as exc:
                assert exc.final_states == batch.accounts
                assert exc.pending >= 1 and exc.completed + exc.pending == len(txs)
                starts = Counter(e.txn for e in exc.trace if e.kind == START)
                ends = Counter(e.txn for e in exc.trace if e.kind in (COMMIT, ABORT))
                assert starts == ends
            else:
                raise AssertionError(f"a 60 s transaction must exceed a {TIMEOUT:g} s timeout")
            after = timed.execute(batch)
            assert after.final_states == serial.execute(batch).final_states
            assert after.outcomes == serial.execute(batch).outcomes

        check()
