"""Serial equivalence: every parallel backend and schedule gives exactly the serial result.

Validates the engine requirement "both modes must give exactly the result of serial
execution in serial order — balances and per-transaction outcomes", and checker 1 (serial
equivalence against the independent serial oracle).
"""

from __future__ import annotations

import pytest
from hypothesis import given

from harness.campaign.strategies import batches
from harness.checks import check_equivalence, serial_oracle
from harness.pytest_plugin import assert_verdicts_hold, check_executor, explain, observe


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


def test_after_naming_a_later_transaction_moves_the_serial_order(executor, executors):
    serial = executors["serial"]

    @given(batch=batches(max_transactions=12, contention="high", forward_deps=True,
                         cost_us=(0, 0, 200)))
    def check(batch):
        assert_verdicts_hold(check_executor(executor, batch))
        expected = serial_oracle(batch)
        actual = serial.execute(batch)
        assert actual.final_states == expected.final_state
        assert {t: (o.status, o.reason) for t, o in actual.outcomes.items()} == \
            expected.outcomes

    check()
