"""Atomicity: a failed atomic batch leaves exactly the initial state; in independent mode an
aborted transaction leaves no write behind (checker 6).
"""

from __future__ import annotations

import pytest
from hypothesis import given

from harness.campaign.strategies import batches
from harness.checks import check_atomicity, serial_oracle
from harness.pytest_plugin import explain, observe


@pytest.mark.parametrize("mode", ["atomic", "independent"])
def test_failures_leave_no_trace(executor, mode):
    @given(batch=batches(max_transactions=16, contention="high", failing=True, overflow=True,
                         modes=(mode,)))
    def check(batch):
        verdict = check_atomicity(observe(executor, batch), serial_oracle(batch))
        assert verdict.ok, explain(verdict)
        result = executor.execute(batch)
        if not result.committed:
            assert result.final_states == batch.accounts

    check()
