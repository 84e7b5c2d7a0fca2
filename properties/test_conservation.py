"""Conservation: transfers keep the sum of balances, deposits and withdrawals change it by
exactly their committed amounts, and no balance is ever negative (checker 5).
"""

from __future__ import annotations

from hypothesis import given

from harness.campaign.strategies import batches
from harness.checks import check_conservation
from harness.pytest_plugin import explain, observe


def test_money_is_conserved(executor):
    @given(batch=batches(max_transactions=16, contention="high", failing=False))
    def check(batch):
        verdict = check_conservation(observe(executor, batch))
        assert verdict.applicable and verdict.ok, explain(verdict)

    check()
