"""Serial equivalence: every parallel backend and schedule gives exactly the serial result.

Validates the engine requirement "both modes must give exactly the result of serial
execution in batch order — balances and per-transaction outcomes", and checker 1 (serial
equivalence against the independent serial oracle).
"""

from __future__ import annotations

import pytest
from hypothesis import given

from harness.checks import check_equivalence, serial_oracle
from harness.pytest_plugin import explain, observe
from harness.strategies import batches


@pytest.mark.parametrize("contention", ["low", "high"])
def test_parallel_equals_serial_backend(executor, executors, contention):
    serial = executors["serial"]

    @given(batch=batches(max_transactions=16, contention=contention, overflow=True,
                         cost_us=(0, 0, 300, -2000)))
    def check(batch):
        expected = serial.execute(batch)
        actual = executor.execute(batch)
        assert actual.final_states == expected.final_states
        assert actual.outcomes == expected.outcomes
        assert actual.committed == expected.committed

    check()


def test_parallel_equals_the_serial_oracle(executor):
    @given(batch=batches(max_transactions=16, contention="high", overflow=True))
    def check(batch):
        verdict = check_equivalence(observe(executor, batch), serial_oracle(batch))
        assert verdict.ok, explain(verdict)

    check()
