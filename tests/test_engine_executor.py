"""ParallelExecutor: serial equivalence on hand-made batches, modes, faults and traces."""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
import time
from collections import Counter

import pytest

from aethel.analysis import Ranked, dependency_dag
from aethel.errors import ExecutionTimeout, InputError, WorkerCrashedError
from aethel.executor import ParallelExecutor, auto_timeout
from aethel.model import MAX_AMOUNT, Batch, Transaction
from aethel.operations import Call, Deposit, Read, Sleep, Spin, Transfer, Withdraw
from aethel.trace import ABORT, COMMIT, READ, START, WRITE

CONFIGS = [("serial", 1, "dataflow"), ("thread", 2, "dataflow"), ("thread", 4, "levels"),
           ("process", 2, "dataflow"), ("process", 2, "levels")]


@pytest.fixture(scope="module")
def executors():
    pool = {cfg: ParallelExecutor(cfg[0], cfg[1], cfg[2]) for cfg in CONFIGS}
    yield pool
    for executor in pool.values():
        executor.close()


@pytest.fixture(params=CONFIGS, ids=lambda c: "-".join(map(str, c)))
def executor(request, executors):
    return executors[request.param]


def tx(tx_id, *ops, after=(), reads=(), writes=()):
    return Transaction(tx_id, ops, frozenset(reads), frozenset(writes), after)


def run(executor, txs, accounts, mode="independent"):
    return executor.execute(Batch(accounts, txs, mode))


def statuses(result):
    return {t: o.status for t, o in result.outcomes.items()}


def test_single_transaction(executor):
    result = run(executor, [tx("t1", Transfer("a", "b", 40))], {"a": 100, "b": 0})
    assert result.final_states == {"a": 60, "b": 40}
    assert statuses(result) == {"t1": "committed"}
    assert result.final_versions == {"a": "t1", "b": "t1"}


def test_all_independent(executor):
    txs = [tx(f"t{i}", Deposit(f"x{i}", i)) for i in range(30)]
    result = run(executor, txs, {f"x{i}": 1 for i in range(30)})
    assert result.final_states == {f"x{i}": 1 + i for i in range(30)}
    assert result.parallel_groups == [[f"t{i}" for i in range(30)]]


def test_fully_dependent_chain_runs_in_batch_order(executor):
    txs = [tx(f"t{i}", Transfer(f"x{i}", f"x{i + 1}", 10 + i)) for i in range(10)]
    accounts = {f"x{i}": 0 for i in range(11)} | {"x0": 10}
    result = run(executor, txs, accounts)
    assert statuses(result)["t0"] == "committed"
    assert all(statuses(result)[f"t{i}"] == "aborted" for i in range(1, 10))
    assert result.final_states["x1"] == 10 and result.final_states["x0"] == 0
    assert len(result.parallel_groups) == 10


def test_mixed_dag_on_shared_accounts_equals_serial(executor, executors):
    txs = [
        tx("t1", Transfer("alice", "bob", 30)),
        tx("t2", Transfer("bob", "carol", 60)),
        tx("t3", Read("carol"), Deposit("dave", 5)),
        tx("t4", Transfer("carol", "alice", 50), Spin(us=200)),
        tx("t5", Withdraw("dave", 15)),
        tx("t6", Deposit("erin", 1), after=("t1",)),
        tx("t7", Transfer("alice", "erin", 70)),
        tx("t8", Read("alice"), Read("erin"), reads=("bob",)),
    ]
    accounts = {"alice": 100, "bob": 50, "carol": 0, "dave": 10, "erin": 0}
    expected = run(executors[CONFIGS[0]], txs, accounts)
    result = run(executor, txs, accounts)
    assert result.final_states == expected.final_states
    assert result.outcomes == expected.outcomes
    assert expected.final_states == {"alice": 50, "bob": 20, "carol": 10, "dave": 0, "erin": 71}


def test_runs_of_one_dag_share_its_ranked_form_and_leave_it_as_it_was(executor, executors,
                                                                      monkeypatch):
    """The DAG over ranks is built once per DAG; a run counts down its own copy of the
    predecessor counts, so the next run of the DAG starts from the same DAG."""
    rng = random.Random(4)
    names = ["a", "b", "c", "d"]
    batch = Batch(dict.fromkeys(names, 50), [
        tx(f"t{i}", Transfer(*rng.sample(names, 2), rng.randint(1, 40)), Spin(us=50))
        for i in range(150)])
    expected = executors[CONFIGS[0]].execute(batch)
    built = []
    real = Ranked.__init__

    def counting(self, dag):
        built.append(dag)
        real(self, dag)

    monkeypatch.setattr(Ranked, "__init__", counting)
    dag = dependency_dag(batch)
    runs = [executor.execute(batch, dag) for _ in range(3)]
    assert built == [dag]
    assert list(dag.ranked.npred) == [len(dag.predecessors(v)) for v in dag.order]
    assert all(r.recorder.names is not dag.ranked.ids for r in runs)  # each result its own
    for result in runs:
        assert result.final_states == expected.final_states
        assert result.outcomes == expected.outcomes


def test_dependent_transactions_on_shared_accounts_wait_for_each_other(executor):
    txs = [tx("t1", Deposit("a", 5), Sleep(30)), tx("t2", Transfer("a", "b", 5))]
    result = run(executor, txs, {"a": 0, "b": 0})
    assert statuses(result) == {"t1": "committed", "t2": "committed"}
    events = {(e.kind, e.txn, e.account): e for e in result.execution_trace}
    assert events[(COMMIT, "t1", None)].ts < events[(START, "t2", None)].ts
    assert events[(READ, "t2", "a")].version == "t1" and events[(READ, "t2", "a")].value == 5


def test_undeclared_access_aborts_the_transaction(executor):
    txs = [tx("t1", Call("aethel.examples:touch_undeclared", ("a",), ("a",),
                         (("account", "b"),))),
           tx("t2", Deposit("a", 1))]
    result = run(executor, txs, {"a": 1, "b": 1})
    assert result.outcomes["t1"].status == "aborted"
    assert "UndeclaredAccessError" in result.outcomes["t1"].reason
    assert "'b'" in result.outcomes["t1"].reason
    assert result.final_states == {"a": 2, "b": 1}


def test_overflow_aborts(executor):
    txs = [tx("t1", Deposit("a", MAX_AMOUNT)), tx("t2", Deposit("b", 3))]
    result = run(executor, txs, {"a": 1, "b": 0})
    assert result.outcomes["t1"].status == "aborted"
    assert "overflow" in result.outcomes["t1"].reason
    assert result.final_states == {"a": 1, "b": 3}


def test_insufficient_funds_independent_mode_aborts_only_that_transaction(executor):
    txs = [tx("t1", Transfer("a", "b", 5)), tx("t2", Withdraw("a", 50)),
           tx("t3", Deposit("c", 7))]
    result = run(executor, txs, {"a": 10, "b": 0, "c": 0})
    assert statuses(result) == {"t1": "committed", "t2": "aborted", "t3": "committed"}
    assert "a has 5, withdrawal needs 50" in result.outcomes["t2"].reason
    assert result.final_states == {"a": 5, "b": 5, "c": 7}
    assert result.committed


def test_insufficient_funds_atomic_mode_rolls_back_everything(executor):
    txs = [tx("t1", Transfer("a", "b", 5)), tx("t2", Deposit("c", 7)),
           tx("t3", Withdraw("a", 50)), tx("t4", Deposit("d", 1)), tx("t5", Deposit("c", 1))]
    accounts = {"a": 10, "b": 0, "c": 0, "d": 0}
    result = run(executor, txs, accounts, mode="atomic")
    assert result.final_states == accounts
    assert not result.committed
    assert statuses(result) == {"t1": "rolled_back", "t2": "rolled_back", "t3": "aborted",
                                "t4": "skipped", "t5": "skipped"}
    assert "t3" in result.error and "a has 5, withdrawal needs 50" in result.error
    assert result.failed_transaction == "t3"


def test_forward_after_runs_the_named_transaction_first(executor):
    txs = [tx("t1", Withdraw("a", 10), after=("t2",)), tx("t2", Deposit("a", 10))]
    result = run(executor, txs, {"a": 0})
    assert statuses(result) == {"t1": "committed", "t2": "committed"}
    assert result.final_states == {"a": 0} and result.final_versions == {"a": "t1"}
    assert result.parallel_groups == [["t2"], ["t1"]]
    events = {(e.kind, e.txn, e.account): e for e in result.execution_trace}
    assert events[(COMMIT, "t2", None)].ts < events[(START, "t1", None)].ts
    assert events[(READ, "t1", "a")].version == "t2" and events[(READ, "t1", "a")].value == 10


def test_atomic_failure_is_the_first_in_the_order_moved_by_after(executor):
    txs = [tx("t1", Withdraw("c", 5), after=("t3",)), tx("t2", Transfer("a", "b", 5)),
           tx("t3", Withdraw("a", 50)), tx("t4", Deposit("d", 1))]
    accounts = {"a": 10, "b": 0, "c": 0, "d": 0}
    result = run(executor, txs, accounts, mode="atomic")
    assert result.final_states == accounts and not result.committed
    assert statuses(result) == {"t1": "skipped", "t2": "rolled_back", "t3": "aborted",
                                "t4": "skipped"}
    assert result.failed_transaction == "t3"
    assert "transaction t3 failed" in result.error and "a has 5, withdrawal needs 50" in \
        result.error


def test_exception_in_user_operation_aborts_with_its_message(executor):
    txs = [tx("t1", Deposit("a", 1)), tx("t2", Call("aethel.examples:fail", (), (),
                                                    (("message", "boom"),)))]
    result = run(executor, txs, {"a": 0}, mode="atomic")
    assert result.final_states == {"a": 0}
    assert result.outcomes["t2"].reason == "RuntimeError: boom"


TIMEOUT_CASES = [(backend, slow) for backend in ("serial", "thread", "process")
                 for slow in ("sleep", "spin", "hung-user-op")
                 # the serial backend runs in the caller's thread: a hung user operation there
                 # cannot be interrupted, so only cancellable work is timed out on it
                 if (backend, slow) != ("serial", "hung-user-op")]


@pytest.mark.parametrize("backend, slow", TIMEOUT_CASES)
def test_timeout_rolls_back_exactly_and_executor_stays_usable(backend, slow):
    slow_op = {"sleep": Sleep(60_000), "spin": Spin(us=60_000_000),
               "hung-user-op": Call("aethel.examples:hang", (), (), (("seconds", 30.0),))}[slow]
    accounts = {"a": 100, "b": 0, "c": 0}
    txs = [tx("t1", Transfer("a", "b", 10)), tx("t2", Deposit("c", 1), slow_op),
           tx("t3", Transfer("b", "a", 1))]
    workers = 1 if backend == "serial" else 2
    with ParallelExecutor(backend, workers, timeout=0.5) as executor:
        started = time.monotonic()
        with pytest.raises(ExecutionTimeout) as err:
            executor.execute(Batch(accounts, txs))
        # generous (a loaded machine is slow to start workers), yet far below the 30 s or more
        # the slow transaction would take: the timeout fired
        assert time.monotonic() - started < 15
        assert err.value.pending >= 1 and err.value.completed + err.value.pending == 3
        assert "timeout" in str(err.value)
        assert err.value.final_states == accounts
        starts = Counter(e.txn for e in err.value.trace if e.kind == START)
        ends = Counter(e.txn for e in err.value.trace if e.kind in (COMMIT, ABORT))
        assert starts == ends and ends["t1"] == 1
        again = executor.execute(Batch(accounts, [txs[0], txs[2]]))
        assert again.final_states == {"a": 91, "b": 9, "c": 0}


def test_timeout_leaves_no_partial_state_in_results():
    accounts = {"a": 100, "b": 0}
    txs = [tx("t1", Transfer("a", "b", 10)), tx("t2", Read("b"), Sleep(60_000))]
    with ParallelExecutor("thread", 2, timeout=0.3) as executor:
        with pytest.raises(ExecutionTimeout) as err:
            executor.execute(Batch(accounts, txs))
    assert err.value.completed == 1 and err.value.pending == 1


def test_auto_timeout_is_at_least_one_second():
    assert auto_timeout(0.0) == auto_timeout(0.05) == 1.0
    assert auto_timeout(0.5) == 5.0
    with ParallelExecutor("thread", 2, timeout="auto") as executor:
        result = executor.execute(Batch({"a": 0}, [tx("t1", Sleep(50))]))
    assert result.final_states == {"a": 0}


@pytest.mark.parametrize("backend", ["serial", "thread", "process"])
def test_auto_timeout_calibration_of_a_hung_batch_is_capped(backend):
    accounts = {"a": 100, "b": 0}
    hung = [tx("t1", Transfer("a", "b", 10)),
            tx("t2", Call("aethel.examples:hang", (), (), (("seconds", 30.0),)))]
    with ParallelExecutor(backend, timeout="auto") as executor:
        executor.auto_timeout_cap = 1.0
        started = time.monotonic()
        with pytest.raises(ExecutionTimeout) as err:
            executor.execute(Batch(accounts, hung))
        assert time.monotonic() - started < 15, "the calibration waited for the hang"
        assert "auto" in str(err.value) and "1 s cap" in str(err.value)
        assert err.value.final_states == accounts
        assert executor.execute(Batch(accounts, hung[:1])).final_states == {"a": 90, "b": 10}


def test_trace_is_complete_under_aggressive_thread_switching():
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        txs = [tx(f"t{i}", Transfer(f"x{i % 7}", f"x{(i * 3) % 7}", 1), Read(f"x{(i + 1) % 7}"))
               for i in range(300)]
        with ParallelExecutor("thread", 8) as executor:
            result = executor.execute(Batch({f"x{i}": 50 for i in range(7)}, txs))
    finally:
        sys.setswitchinterval(previous)
    kinds = Counter((e.txn, e.kind) for e in result.execution_trace)
    for t in txs:
        assert kinds[(t.id, START)] == 1
        assert kinds[(t.id, COMMIT)] + kinds[(t.id, ABORT)] == 1
    committed = [t for t in txs if result.outcomes[t.id].status == "committed"]
    assert sum(kinds[(t.id, WRITE)] for t in committed) == sum(len(t.writes) for t in committed)


def test_trace_events_carry_worker_pid_and_versions():
    txs = [tx("t1", Deposit("a", 1)), tx("t2", Deposit("a", 2))]
    with ParallelExecutor("process", 2) as executor:
        result = executor.execute(Batch({"a": 0}, txs))
        worker_pids = set(executor.pool.pids())
    starts = [e for e in result.execution_trace if e.kind == START]
    assert {e.pid for e in starts} <= worker_pids
    writes = [e for e in result.execution_trace if e.kind == WRITE]
    assert [(w.txn, w.value, w.replaced) for w in writes] == [("t1", 1, "init"), ("t2", 3, "t1")]
    reads = [e for e in result.execution_trace if e.kind == READ]
    assert [(r.txn, r.version) for r in reads] == [("t1", "init"), ("t2", "t1")]


def test_execute_parallel_and_independent_set_keep_the_original_names():
    with ParallelExecutor("thread", 2) as executor:
        result = executor.execute_parallel([tx("t1", Deposit("a", 1))], {"a": 0})
        assert result.final_states == {"a": 1} and result.worker_count == 2
        assert result.execution_time > 0 and result.execution_trace
        state = {"a": 1, "b": 2}
        outcomes = executor.execute_independent_set(
            [tx("t1", Deposit("a", 1)), tx("t2", Deposit("b", 1))], state)
        assert state == {"a": 2, "b": 3} and outcomes["t2"].status == "committed"
        with pytest.raises(InputError, match="not independent"):
            executor.execute_independent_set(
                [tx("t1", Deposit("a", 1)), tx("t2", Deposit("a", 1))], state)


@pytest.mark.parametrize("kwargs, field", [
    ({"backend": "gpu"}, "backend"), ({"workers": 0}, "workers"), ({"workers": -2}, "workers"),
    ({"schedule": "eager"}, "schedule"), ({"timeout": 0}, "timeout"),
    ({"backend": "serial", "workers": 3}, "workers"),
])
def test_bad_executor_arguments_name_the_field(kwargs, field):
    with pytest.raises(InputError) as err:
        ParallelExecutor(**kwargs)
    assert err.value.where == field


def test_a_run_may_choose_its_schedule():
    batch = Batch({"a": 0}, (tx("t1", Deposit("a", 1)), tx("t2", Deposit("a", 2))))
    with ParallelExecutor("thread", 2) as executor:
        result = executor.execute(batch, schedule="levels")
        assert result.schedule == "levels" and result.final_states == {"a": 3}
        assert executor.schedule == "dataflow"
        with pytest.raises(InputError) as err:
            executor.execute(batch, schedule="eager")
        assert err.value.where == "schedule"


def test_killed_worker_is_detected_rolled_back_and_replaced():
    accounts = {"a": 100, "b": 0}
    txs = [tx("t1", Transfer("a", "b", 10)),
           *(tx(f"s{i}", Sleep(2000)) for i in range(4))]
    with ParallelExecutor("process", 2) as executor:
        victim = executor.pool.pids()[0]
        killer = threading.Timer(0.3, os.kill, (victim, signal.SIGKILL))
        killer.start()
        with pytest.raises(WorkerCrashedError, match="died") as err:
            executor.execute(Batch(accounts, txs))
        killer.join()
        assert err.value.pending >= 1
        assert victim not in executor.pool.pids()
        again = executor.execute(Batch(accounts, [txs[0]]))
        assert again.final_states == {"a": 90, "b": 10}


def test_worker_that_dies_while_idle_is_replaced_silently():
    with ParallelExecutor("process", 2) as executor:
        victim = executor.pool.pids()[1]
        os.kill(victim, signal.SIGKILL)
        time.sleep(0.2)
        txs = [tx(f"t{i}", Deposit("a", 1), Sleep(20)) for i in range(6)]
        result = executor.execute(Batch({"a": 0}, txs))
        assert result.final_states == {"a": 6}
        assert victim not in executor.pool.pids()


def test_a_process_pool_holds_no_named_semaphore(monkeypatch):
    """A job process killed while multiprocessing unlinks its semaphores leaves the resource
    tracker one to warn about at exit: the engine's pools use plain pipes, none."""
    from multiprocessing import synchronize

    made = []
    real = synchronize.SemLock.__init__

    def counting(self, *args, **kwargs):
        made.append(args)
        real(self, *args, **kwargs)

    monkeypatch.setattr(synchronize.SemLock, "__init__", counting)
    txs = [tx(f"t{i}", Deposit("a", 1)) for i in range(40)]
    with ParallelExecutor("process", 2) as executor:
        assert executor.execute(Batch({"a": 0}, txs)).final_states == {"a": 40}
        executor.pool.reset()  # replaces no worker: none has work in flight
        assert executor.execute(Batch({"a": 0}, txs)).final_states == {"a": 40}
    assert made == []


@pytest.mark.parametrize("shape", ["wide", "two-chains"])
def test_process_workers_see_each_runs_initial_balances(shape):
    """A root's snapshot is taken by its worker from the initial balances it was sent: a
    later run of the same transactions from other balances must see those."""
    n = 120
    if shape == "wide":
        accounts = [f"a{i}" for i in range(n)]
        txs = [tx(f"t{i}", Deposit(f"a{i}", 1), Spin(us=300)) for i in range(n)]
        txs += [tx(f"u{i}", Deposit(f"a{i}", 1), Spin(us=300)) for i in range(n)]
    else:
        accounts = ["a0", "a1"]
        txs = [tx(f"t{i}", Deposit(f"a{i % 2}", 1), Spin(us=300)) for i in range(2 * n)]
    with ParallelExecutor("process", 2) as executor:
        for base in (10, 500, 10):
            initial = {a: base + k for k, a in enumerate(accounts)}
            result = executor.execute(Batch(initial, txs))
            assert result.metrics["inline"] == 0.0
            assert result.final_states == {a: v + len(txs) // len(accounts)
                                           for a, v in initial.items()}
            first = {}
            for event in result.execution_trace:
                if event.kind == READ:
                    first.setdefault(event.account, (event.value, event.version))
            assert first == {a: (v, "init") for a, v in initial.items()}


def test_a_process_pool_runs_each_batch_it_is_given_not_one_it_holds():
    """Workers keep the transactions they were sent, by rank: a batch with the same ids and
    size but other operations, and then the first batch again, must each run as given."""
    def batch(amount):
        return Batch({f"a{i}": 0 for i in range(120)},
                     [tx(f"t{i}", Deposit(f"a{i}", amount + i), Spin(us=300))
                      for i in range(120)])

    with ParallelExecutor("process", 2) as executor:
        first = batch(1)
        for given in (first, batch(1000), first):
            result = executor.execute(given)
            assert result.metrics["inline"] == 0.0
            assert result.final_states == {f"a{i}": t.ops[0].amount
                                           for i, t in enumerate(given.transactions)}
