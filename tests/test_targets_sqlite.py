"""SQLite as an executor under test (harness.targets.sqlite), on real database files."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from aethel.model import ATOMIC, INDEPENDENT, Batch, Transaction
from aethel.operations import Call, Deposit, Read, Transfer, Withdraw
from aethel.outcome import ABORTED, COMMITTED
from aethel.trace import ABORT, READ, WRITE
from harness.campaign.strategies import CAMPAIGN_OPS, batches
from harness.checks import BATCH
from harness.targets.sqlite import SQLiteDeferred, SQLiteExecutor
from tests.db_targets import failures, retried_aborts, verify

DB = settings(max_examples=25, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def sqlite():
    executor = SQLiteExecutor(workers=3)
    yield executor
    executor.close()


def test_a_campaign_on_sqlite_in_any_serial_order_passes(tmp_path):
    result = verify("harness.targets.sqlite:SQLiteExecutor", tmp_path)
    assert result.exit_code == 0, result.output
    assert "judged in any serial order" in result.output


@DB
@given(batch=batches(contention="high", ops=CAMPAIGN_OPS, modes=(INDEPENDENT,)))
def test_sqlite_runs_are_serializable_in_some_order(sqlite, batch):
    assert failures(batch, sqlite.execute(batch)) == []


@DB
@given(batch=batches(ops=CAMPAIGN_OPS, modes=(ATOMIC,)))
def test_an_atomic_batch_is_one_database_transaction_and_passes_every_check(sqlite, batch):
    assert failures(batch, sqlite.execute(batch), BATCH) == []


def test_transactions_fail_as_in_the_engine(sqlite):
    batch = Batch({"a": 10, "b": 2**63 - 5, "c": 7, "d": 1, "e": 0}, (
        Transaction("short", (Withdraw("a", 11),)),
        Transaction("overflow", (Deposit("b", 10),)),
        Transaction("sneaky", (Call("aethel.examples:touch_undeclared", ("c",), ("c",),
                                    (("account", "e"),)),)),
        Transaction("raises", (Read("d"), Call("aethel.examples:fail"))),
    ))
    result = sqlite.execute(batch)
    assert {t: o.status for t, o in result.outcomes.items()} == dict.fromkeys(
        batch.ids, ABORTED)
    assert "UndeclaredAccessError" in result.outcomes["sneaky"].reason
    assert [e.kind for e in result.execution_trace if e.txn == "raises"][-1] == ABORT
    assert not any(e.kind == WRITE for e in result.execution_trace)
    assert failures(batch, result) == []


def test_every_read_and_write_records_the_database_versions(sqlite):
    batch = Batch({"a": 100, "b": 0}, (Transaction("t1", (Transfer("a", "b", 30),)),
                                       Transaction("t2", (Read("b"),), after=("t1",))))
    result = sqlite.execute(batch)
    assert result.final_states == {"a": 70, "b": 30}
    assert result.outcomes["t1"].status == COMMITTED
    installs = {e.account: (e.value, e.replaced) for e in result.execution_trace
                if e.kind == WRITE}
    assert installs == {"a": (70, "init"), "b": (30, "init")}
    read = next(e for e in result.execution_trace if e.kind == READ and e.txn == "t2")
    assert (read.value, read.version) in ((0, "init"), (30, "t1"))


def test_deferred_transactions_retry_busy_snapshots_and_stay_serializable():
    batch = Batch({"hot": 0}, tuple(Transaction(f"t{i}", (Deposit("hot", i),))
                                    for i in range(1, 9)))
    executor = SQLiteDeferred(workers=4)
    try:
        for _ in range(5):
            result = executor.execute(batch)
            assert failures(batch, result) == []
            committed = [t for t, o in result.outcomes.items() if o.status == COMMITTED]
            assert result.final_states["hot"] == sum(int(t[1:]) for t in committed)
            retried = retried_aborts(result.execution_trace)
            assert all(e.reason.startswith("SQLITE_BUSY") for e in retried)
            assert result.metrics["retries"] == len(retried)
    finally:
        executor.close()
