"""Strict serializability: the serialization graph of the recorded versions plus real-time
order is acyclic, and a witness serial order of the committed transactions exists.

Validates that executions are strictly serializable (checker 4): linearizable, with each
transaction taken as one operation.
"""

from __future__ import annotations

from hypothesis import given

from harness.campaign.strategies import batches
from harness.checks import Observed, check_serializability, derive_facts
from harness.pytest_plugin import explain


def test_executions_are_strictly_serializable(executor):
    @given(batch=batches(max_transactions=16, contention="high", cost_us=(0, 100)))
    def check(batch):
        result = executor.execute(batch)
        verdict = check_serializability(derive_facts(batch, Observed.from_result(result)))
        assert verdict.ok, explain(verdict)
        committed_in_trace = {e.txn for e in result.execution_trace if e.kind == "COMMIT"}
        assert verdict.witness is not None
        assert sorted(verdict.witness) == sorted(committed_in_trace)

    check()
