"""Dependency order: for every DAG edge u → v, u's COMMIT precedes v's START.

Validates the engine requirement that independent transactions run concurrently while
dependent ones respect dependency order, on every backend and schedule (checker 2).
"""

from __future__ import annotations

from hypothesis import given

from harness.campaign.strategies import batches
from harness.checks import check_order
from harness.pytest_plugin import explain, observe


def test_dependencies_are_respected(executor):
    @given(batch=batches(max_transactions=16, contention="high", cost_us=(0, 200)))
    def check(batch):
        verdict = check_order(observe(executor, batch))
        assert verdict.ok, explain(verdict)

    check()
