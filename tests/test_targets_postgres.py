"""PostgreSQL as an executor under test (harness.targets.postgres), on a throwaway server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from aethel.errors import EnvironmentFailure, InputError
from aethel.model import ATOMIC, INDEPENDENT, Batch, Transaction
from aethel.operations import Deposit, Read
from aethel.outcome import ABORTED, COMMITTED
from harness.campaign.config import SHARD_SIZE, CampaignConfig
from harness.campaign.shards import ShardSpec, close_executors, run_shard
from harness.campaign.strategies import CAMPAIGN_OPS, batches
from harness.checks import ANY, BATCH, ISOLATION, SERIALIZABILITY
from harness.checks.anomalies import G2, LOST_UPDATE
from harness.targets.pgserver import PostgresServer
from harness.targets.postgres import (
    DSN_ENV,
    ISOLATION_ENV,
    PostgresExecutor,
    ReadCommitted,
    RepeatableRead,
    Serializable,
)
from tests.db_targets import failures, retried_aborts, verdicts, verify

DB = settings(max_examples=25, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
TRIES = 200
"""Runs of a racy batch before concluding that an anomaly does not show."""
RC_EXAMPLES = 200
"""Examples of a READ COMMITTED campaign: it fails within the first shards."""
RC_SHARDS = 5
"""Shards of a READ COMMITTED campaign searched for a lost update."""
ROOT = Path(__file__).resolve().parent.parent

TWO_DEPOSITS = Batch({"a": 100}, (Transaction("t1", (Deposit("a", 10),)),
                                  Transaction("t2", (Deposit("a", 20),))))
"""Two read-modify-writes of one account: run at once, each may read before the other's
write."""
WRITE_SKEW = Batch({"a": 0, "b": 0}, (Transaction("t1", (Read("b"), Deposit("a", 1))),
                                      Transaction("t2", (Read("a"), Deposit("b", 1)))))
"""Each transaction reads the account the other writes: run at once on one snapshot, each
misses the other's write."""


@pytest.fixture(scope="module", autouse=True)
def server():
    with PostgresServer() as pg, pytest.MonkeyPatch.context() as env:
        env.setenv(DSN_ENV, pg.dsn)
        env.delenv(ISOLATION_ENV, raising=False)
        yield pg


@pytest.fixture(scope="module")
def serializable():
    executor = Serializable(workers=3)
    yield executor
    executor.close()


def test_a_campaign_on_serializable_postgres_in_any_serial_order_passes(tmp_path):
    result = verify("harness.targets.postgres:PostgresExecutor", tmp_path)
    assert result.exit_code == 0, result.output


def test_a_campaign_on_read_committed_postgres_fails(tmp_path):
    result = verify("harness.targets.postgres:ReadCommitted", tmp_path, examples=RC_EXAMPLES)
    assert result.exit_code == 1, result.output
    assert "VIOLATION" in result.output and "Falsifying example:" in result.output


def test_read_committed_campaign_shards_name_a_lost_update():
    """The campaign's shards at high contention, unshrunk (shrinking may end on another
    anomaly READ COMMITTED allows, e.g. a read skew): a lost update within RC_SHARDS shards."""
    config = CampaignConfig(executor="harness.targets.postgres:ReadCommitted",
                            backends=("thread",), contention="high", order=ANY)
    found: list[str] = []
    try:
        for shard in range(RC_SHARDS):
            failure = run_shard(ShardSpec(config, shard, SHARD_SIZE)).failure
            if failure is not None:
                found = [line for v in failure.verdicts for line in v["lines"]]
                if any(line.lstrip().startswith(f"{LOST_UPDATE}: ") for line in found):
                    return
    finally:
        close_executors()
    pytest.fail(f"no lost update at READ COMMITTED in {RC_SHARDS} shards; last: {found}")


def test_an_unreachable_server_ends_verify_with_one_sentence(tmp_path):
    result = verify("harness.targets.postgres:PostgresExecutor", tmp_path / "reports",
                    env={DSN_ENV: f"host={tmp_path} user=postgres dbname=postgres"})
    assert result.exit_code == 3, result.output
    assert result.output.startswith(f"error: cannot connect to PostgreSQL (host {tmp_path}")
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_read_committed_shows_a_lost_update():
    executor = ReadCommitted(workers=2)
    try:
        for _ in range(TRIES):
            isolation = verdicts(TWO_DEPOSITS, executor.execute(TWO_DEPOSITS))[ISOLATION]
            if LOST_UPDATE in isolation.anomalies():
                break
        else:
            pytest.fail(f"no lost update at READ COMMITTED in {TRIES} runs")
    finally:
        executor.close()


def test_repeatable_read_shows_write_skew():
    executor = RepeatableRead(workers=2)
    try:
        for _ in range(TRIES):
            cycles = verdicts(WRITE_SKEW, executor.execute(WRITE_SKEW))[SERIALIZABILITY]
            if G2 in cycles.anomalies():
                break
        else:
            pytest.fail(f"no write skew at REPEATABLE READ in {TRIES} runs")
    finally:
        executor.close()


@pytest.mark.parametrize("batch", [TWO_DEPOSITS, WRITE_SKEW], ids=["deposits", "skew"])
def test_serializable_shows_neither(serializable, batch):
    for _ in range(50):
        assert failures(batch, serializable.execute(batch)) == []


def test_serializable_retries_serialization_failures():
    once = Serializable(workers=2, retries=0)
    retrying = Serializable(workers=2)
    try:
        for _ in range(TRIES):
            result = once.execute(TWO_DEPOSITS)
            reasons = [o.reason for o in result.outcomes.values() if o.status == ABORTED]
            if reasons:
                assert reasons[0].startswith("SQLSTATE 40001: ")
                break
        else:
            pytest.fail(f"no serialization failure in {TRIES} runs")
        for _ in range(20):
            result = retrying.execute(TWO_DEPOSITS)
            assert result.final_states == {"a": 130}
            assert {o.status for o in result.outcomes.values()} == {COMMITTED}
            retried = retried_aborts(result.execution_trace)
            assert all(e.reason.startswith(("SQLSTATE 40001", "SQLSTATE 40P01"))
                       for e in retried)
            assert result.metrics["retries"] == len(retried)
            assert failures(TWO_DEPOSITS, result) == []
    finally:
        once.close()
        retrying.close()


@DB
@given(batch=batches(contention="high", ops=CAMPAIGN_OPS, modes=(INDEPENDENT,)))
def test_serializable_runs_are_serializable_in_some_order(serializable, batch):
    assert failures(batch, serializable.execute(batch)) == []


@DB
@given(batch=batches(ops=CAMPAIGN_OPS, modes=(ATOMIC,)))
def test_an_atomic_batch_is_one_database_transaction_and_passes_every_check(serializable,
                                                                            batch):
    assert failures(batch, serializable.execute(batch), BATCH) == []


@pytest.mark.parametrize("factory, env, level", [
    (PostgresExecutor, None, "serializable"),
    (PostgresExecutor, "read-committed", "read committed"),
    (ReadCommitted, None, "read committed"),
    (RepeatableRead, "read-committed", "repeatable read"),
    (Serializable, "read-committed", "serializable"),
])
def test_the_isolation_level_comes_from_the_factory_else_the_environment(
        monkeypatch, factory, env, level):
    if env:
        monkeypatch.setenv(ISOLATION_ENV, env)
    executor = factory(workers=2)
    try:
        session = executor.sessions[0]
        session.begin(True)
        shown = session.conn.execute("SHOW transaction_isolation").fetchone()[0]
        session.rollback()
        assert shown == level
    finally:
        executor.close()


def test_an_unknown_isolation_level_is_an_input_error(monkeypatch):
    monkeypatch.setenv(ISOLATION_ENV, "snapshot")
    with pytest.raises(InputError, match=f"{ISOLATION_ENV}: must be one of"):
        PostgresExecutor()


def test_an_unreachable_server_is_one_sentence_of_the_environment(tmp_path):
    with pytest.raises(EnvironmentFailure) as failed:
        PostgresExecutor(dsn=f"host={tmp_path} user=postgres dbname=postgres")
    message = str(failed.value)
    assert message.startswith(f"cannot connect to PostgreSQL (host {tmp_path}")
    assert "\n" not in message


def test_without_a_dsn_a_throwaway_server_lives_as_long_as_the_process():
    env = {k: v for k, v in os.environ.items() if k != DSN_ENV}
    script = ("import os; from harness.targets.postgres import PostgresExecutor; "
              "e = PostgresExecutor(); e.close(); print(os.environ['AETHEL_PG_DSN'])")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    folder = dict(part.split("=") for part in done.stdout.split())["host"]
    assert Path(folder).name.startswith("aethel-pg-")
    assert not Path(folder).exists()
