"""Isolation and thread safety: reads see the right versions, no lost updates or dirty
reads, no undeclared access, and an intact trace.

Validates copy-on-write isolation (snapshots of the declared accounts, write deltas
installed in dependency order) and complete, thread-safe trace recording (checker 3).
"""

from __future__ import annotations

from hypothesis import given

from harness.campaign.strategies import batches
from harness.checks import check_isolation
from harness.pytest_plugin import explain, observe


def test_reads_and_installs_are_isolated(executor):
    @given(batch=batches(max_transactions=16, contention="high", failing=True))
    def check(batch):
        verdict = check_isolation(observe(executor, batch))
        assert verdict.ok, explain(verdict)

    check()
