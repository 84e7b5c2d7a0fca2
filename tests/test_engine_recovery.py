"""Recovery from hostile user operations: whatever a transaction raises, it aborts alone.

A user operation that raises SystemExit, KeyboardInterrupt, GeneratorExit or an exception
that cannot be printed must end as an aborted transaction whose reason names the exception
type, on every backend: no dead worker, no hang, nothing escaping ``execute``.
"""

from __future__ import annotations

import json
import queue
import threading

import pytest
from click.testing import CliRunner

from aethel.allowed import ENV
from aethel.backends import ThreadPool
from aethel.executor import ParallelExecutor
from aethel.model import Batch, Transaction
from aethel.operations import Call, Deposit, Transfer
from aethel.trace import START
from harness.cli import main

BACKENDS = [("serial", 1), ("thread", 2), ("process", 2)]
HOSTILE = {
    "exit_zero": "SystemExit: 0",
    "interrupt": "KeyboardInterrupt",
    "generator_exit": "GeneratorExit",
    "bad_str": "BadStr: <unprintable>",
}
ACCOUNTS = {"a": 100, "b": 0, "c": 5, "d": 0}


@pytest.fixture(scope="module", autouse=True)
def allow_hostile_ops():
    """Let ``call`` operations use tests.hostile_ops in this process and in every worker
    process started while this module's tests run."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV, "tests.hostile_ops")
        yield


@pytest.fixture(scope="module", params=BACKENDS, ids=lambda b: b[0])
def executor(request, allow_hostile_ops):
    # a generous timeout turns a hang (a dead worker thread) into a failure, not a stuck suite
    with ParallelExecutor(*request.param, timeout=60) as executor:
        yield executor


def hostile_batch(name: str, mode: str) -> Batch:
    return Batch(ACCOUNTS, [
        Transaction("t1", (Transfer("a", "b", 10),)),
        Transaction("t2", (Deposit("c", 1), Call(f"tests.hostile_ops:{name}"))),
        Transaction("t3", (Transfer("b", "c", 5),)),
        Transaction("t4", (Deposit("d", 7),)),
    ], mode)


def assert_workers_intact(executor: ParallelExecutor, pids: list[int]) -> None:
    """The same worker processes are alive, or both worker threads still take work."""
    if executor.backend == "process":
        assert executor.pool.pids() == pids
    if executor.backend == "thread":
        meeting = [Transaction(f"m{i}", (Call("tests.hostile_ops:meet"),)) for i in range(2)]
        result = executor.execute(Batch({}, meeting))
        assert {o.status for o in result.outcomes.values()} == {"committed"}, result.outcomes


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_operation_aborts_only_its_transaction(executor, name):
    pids = executor.pool.pids() if executor.backend == "process" else []
    independent = executor.execute(hostile_batch(name, "independent"))
    assert independent.outcomes["t2"].status == "aborted"
    assert independent.outcomes["t2"].reason == HOSTILE[name]
    assert {t: o.status for t, o in independent.outcomes.items() if t != "t2"} == {
        "t1": "committed", "t3": "committed", "t4": "committed"}
    assert independent.final_states == {"a": 90, "b": 5, "c": 10, "d": 7}

    atomic = executor.execute(hostile_batch(name, "atomic"))
    assert atomic.final_states == ACCOUNTS and not atomic.committed
    assert atomic.failed_transaction == "t2"
    assert atomic.outcomes["t2"].reason == HOSTILE[name]

    assert_workers_intact(executor, pids)
    again = executor.execute(Batch(ACCOUNTS, [Transaction("t1", (Transfer("a", "b", 10),))]))
    assert again.final_states == {"a": 90, "b": 10, "c": 5, "d": 0}


def test_unpicklable_result_aborts_the_transaction_not_the_process_worker():
    batch = Batch({"a": 0, "b": 0}, [
        Transaction("t1", (Call("tests.hostile_ops:unpicklable_write", (), ("a",),
                                (("account", "a"),)),)),
        Transaction("t2", (Deposit("b", 3),)),
    ])
    with ParallelExecutor("process", 1, timeout=60) as executor:
        pids = executor.pool.pids()
        result = executor.execute(batch)
        assert result.outcomes["t1"].status == "aborted"
        assert "cannot be pickled" in result.outcomes["t1"].reason
        assert result.outcomes["t2"].status == "committed"
        assert result.final_states == {"a": 0, "b": 3}
        assert executor.pool.pids() == pids


def test_thread_worker_survives_a_failure_outside_the_transaction():
    def broken_record(event):
        if event.kind == START:
            raise KeyboardInterrupt

    pool = ThreadPool(1)
    try:
        chunk = [(0, Transaction("t1", (Deposit("a", 1),)), {"a": (0, "init")})]
        pool.submit(chunk, broken_record, threading.Event())
        (failed,), _ = pool.collect(30)
        assert not failed.ok and failed.reason == "KeyboardInterrupt"
        recorded: queue.SimpleQueue = queue.SimpleQueue()
        pool.submit(chunk, recorded.put, threading.Event())
        (done,), _ = pool.collect(30)
        assert done.ok and done.writes == {"a": 1}
        assert recorded.get_nowait().kind == START
    finally:
        pool.close()


def write_batch(path, mode: str) -> str:
    path.write_text(json.dumps({
        "mode": mode,
        "accounts": {"a": 100, "b": 0},
        "transactions": [
            {"id": "t1", "ops": [{"op": "transfer", "from": "a", "to": "b", "amount": 10}]},
            {"id": "t2", "ops": [{"op": "call", "function": "tests.hostile_ops:exit_zero"}]},
            {"id": "t3", "ops": [{"op": "deposit", "account": "b", "amount": 1}]},
        ],
    }))
    return str(path)


@pytest.mark.parametrize("backend", ["serial", "thread", "process"])
def test_run_reports_a_transaction_that_calls_sys_exit(tmp_path, backend):
    runner = CliRunner()
    batch = write_batch(tmp_path / "exit.json", "independent")
    out = tmp_path / "out.json"
    independent = runner.invoke(main, ["run", batch, "--backend", backend, "--out", str(out)])
    assert independent.exit_code == 0, independent.output
    assert "3 transactions" in independent.output and "1 aborted, 2 committed" \
        in independent.output
    assert json.loads(out.read_text())["outcomes"]["t2"] == {
        "status": "aborted", "reason": "SystemExit: 0"}

    atomic = runner.invoke(main, ["run", write_batch(tmp_path / "atomic.json", "atomic"),
                                  "--backend", backend])
    assert atomic.exit_code == 1, atomic.output
    assert "3 transactions" in atomic.output
    assert "transaction t2 failed: SystemExit: 0" in atomic.output
