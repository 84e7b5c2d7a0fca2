"""Planned runs on processes: each worker is handed its whole part of a static plan and
waits for a predecessor planned on another worker by a message from that worker.

Every run is compared with the serial backend and judged by every checker, so a plan that
let a transaction see a stale write, install out of order or bend the trace fails here.
"""

from __future__ import annotations

import os
import random
import signal
import threading
from multiprocessing.connection import wait

import pytest

from aethel.analysis import DependencyDag, dependency_dag, plan_workers
from aethel.backends import Part, run_planned
from aethel.errors import ExecutionTimeout, WorkerCrashedError
from aethel.executor import Coordinator, ParallelExecutor
from aethel.model import Batch, Transaction
from aethel.operations import Call, Deposit, Sleep, Spin, Transfer, Withdraw
from harness.bench.workloads import WORKLOADS
from tests.test_engine_columns import _passes_every_checker


class _Planned(Coordinator):
    """Always a planned run, whatever the estimates say."""

    def path(self) -> str:
        self.where, _ = plan_workers(self.graph, self.executor.workers, *self.PLAN_COST_US[:0:-1])
        return "planned"


class _PlannedExecutor(ParallelExecutor):
    coordinator_class = _Planned


def _hot(seed: int, n: int = 150) -> Batch:
    """Transfers mostly among three hot accounts, each with a little CPU work of random
    size; every fifth transaction a withdrawal that fails, and every seventh a blind write
    of one of the two accounts it declares (so that the last transaction that may write an
    account is often not the last that did)."""
    rng = random.Random(seed)
    hot, cold = ["h0", "h1", "h2"], [f"c{i}" for i in range(12)]
    accounts = {a: rng.randint(0, 500) for a in hot + cold}
    txs = []
    for i in range(n):
        a = rng.choice(hot) if rng.random() < 0.7 else rng.choice(cold)
        b = rng.choice([x for x in hot + cold if x != a])
        if i % 5 == 4:
            op: Withdraw | Transfer | Call = Withdraw(a, 10**6)
        elif i % 7 == 6:
            op = Call("aethel.examples:assign", call_writes=(a, b),
                      args=(("account", a), ("value", rng.randint(0, 99))))
        else:
            op = Transfer(a, b, rng.randint(1, 30))
        txs.append(Transaction(f"t{i}", (op, Spin(us=rng.randint(20, 300)))))
    return Batch(accounts, txs)


@pytest.mark.parametrize("seed", range(10))
def test_planned_runs_equal_serial_and_pass_every_checker(seed):
    batch = _hot(seed)
    with ParallelExecutor("serial") as serial:
        expected = serial.execute(batch)
    with _PlannedExecutor("process", 2) as executor:
        runs = [executor.execute(batch), executor.execute(batch)]  # same workers, again
        _passes_every_checker(executor, batch)
    where, _ = plan_workers(dependency_dag(batch), 2, 150.0, 12.0)
    assert set(where) == {0, 1}  # the plan uses both workers, so messages cross
    for run in runs:
        assert run.metrics["planned"] == 1.0
        assert run.final_states == expected.final_states
        assert run.final_versions == expected.final_versions
        assert run.outcomes == expected.outcomes
        assert {e.worker for e in run.execution_trace} == {0, 1}


def test_a_worker_that_died_between_planned_runs_is_replaced_and_linked():
    batch = _hot(7)
    with ParallelExecutor("serial") as serial:
        expected = serial.execute(batch)
    with _PlannedExecutor("process", 2) as executor:
        assert executor.execute(batch).final_states == expected.final_states
        victim = executor.pool.pids()[1]
        os.kill(victim, signal.SIGKILL)
        assert wait([executor.pool._procs[1].process.sentinel], 60)  # it is dead
        again = executor.execute(batch)
        assert victim not in executor.pool.pids()
        assert again.final_states == expected.final_states
        assert again.outcomes == expected.outcomes


def test_a_worker_killed_during_a_planned_run_rolls_it_back_and_the_next_run_holds():
    accounts = {"a": 100, "b": 0}
    txs = [Transaction("t0", (Transfer("a", "b", 10),)),
           *(Transaction(f"s{i}", (Deposit("b", 1), Sleep(ms=1500))) for i in range(4))]
    batch = Batch(accounts, txs)
    with _PlannedExecutor("process", 2) as executor:
        executor.execute(Batch(accounts, txs[:1]))  # workers up and linked
        victim = executor.pool.pids()[0]
        killer = threading.Timer(0.3, os.kill, (victim, signal.SIGKILL))
        killer.start()
        with pytest.raises(WorkerCrashedError, match="died") as err:
            executor.execute(batch)
        killer.join()
        assert err.value.final_states == accounts
        again = executor.execute(Batch(accounts, txs[:2]))
        assert again.final_states == {"a": 90, "b": 11}


def test_a_planned_run_past_its_timeout_is_rolled_back_exactly():
    accounts = {"a": 5, "b": 0}
    txs = [Transaction("t0", (Transfer("a", "b", 5),)),
           *(Transaction(f"s{i}", (Deposit("b", 1), Sleep(ms=5000))) for i in range(3))]
    with _PlannedExecutor("process", 2, timeout=0.5) as executor:
        with pytest.raises(ExecutionTimeout) as err:
            executor.execute(Batch(accounts, txs))
        assert err.value.final_states == accounts
        assert executor.execute(Batch(accounts, txs[:1])).final_states == {"a": 0, "b": 5}


def test_a_narrow_dag_is_planned_and_wide_work_is_not():
    narrow = WORKLOADS["contention-high"].batch(1, size=400)
    wide = WORKLOADS["cpu-0.1ms"].batch(1, size=400)
    with ParallelExecutor("process", 2) as executor:
        planned = executor.execute(narrow, dependency_dag(narrow))
        pooled = executor.execute(wide, dependency_dag(wide))
    assert planned.metrics["planned"] == 1.0 and planned.metrics["inline"] == 0.0
    assert pooled.metrics["planned"] == 0.0


def _dag(costs: list[float], edges: list[tuple[int, int]]) -> DependencyDag:
    """A DAG of ``len(costs)`` transactions with these edges and Spin costs (µs)."""
    accounts = {f"x{v}": 0 for v in range(len(costs))}
    txs = [Transaction(f"t{v}", (Deposit(f"x{v}", 1), Spin(us=round(c))),
                       after=tuple(f"t{u}" for u, w in edges if w == v))
           for v, c in enumerate(costs)]
    return dependency_dag(Batch(accounts, txs))


def test_a_plan_shares_independent_work_evenly():
    dag = _dag([100.0] * 10, [])
    where, makespan = plan_workers(dag, 2, overhead_us=3.0)
    assert sorted(where.count(w) for w in (0, 1)) == [5, 5]
    assert makespan == 5 * (dag.costs[0] + 3.0)


def test_a_plan_keeps_a_chain_on_one_worker_when_messages_cost_time():
    chain = _dag([100.0] * 6, [(v, v + 1) for v in range(5)])
    where, makespan = plan_workers(chain, 2, message_us=50.0)
    assert len(set(where)) == 1 and makespan == sum(chain.costs)


def test_a_plan_counts_the_message_to_another_worker():
    """t0 fans out to t1 and t2, all of one cost: running t2 on the other worker pays off
    only while the message costs less than t1."""
    fan = _dag([100.0, 100.0, 100.0], [(0, 1), (0, 2)])
    cost = fan.costs[0]
    assert plan_workers(fan, 2, message_us=40.0) == ([0, 0, 1], 2 * cost + 40.0)
    assert plan_workers(fan, 2, message_us=150.0) == ([0, 0, 0], 3 * cost)


def test_no_plan_is_computed_for_work_no_plan_could_pay_for(monkeypatch):
    """A narrow DAG of trivial transactions runs inline, without the cost of planning it:
    even a perfect plan would pay each transaction's cost on a worker."""
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("planned a batch no plan can pay for")

    monkeypatch.setattr("aethel.executor.plan_workers", refuse)
    batch = Batch({"a": 0, "b": 0},
                  [Transaction(f"t{i}", (Transfer("a", "b", 1) if i % 2 else Deposit("a", 1),))
                   for i in range(300)])
    with ParallelExecutor("process", 2) as executor:
        result = executor.execute(batch)
    assert result.metrics["inline"] == 1.0 and result.final_states == {"a": 0, "b": 150}


def _run_part(part: Part, batch: list[Transaction], messages: list[tuple[int, dict]]
              ) -> tuple[list[int], list[bool]]:
    """Run ``part`` on worker 1 in this thread, ``messages`` arriving one per call of
    ``receive`` while there are any: the ranks in the order they ran, and each call's
    ``block``."""
    calls: list[bool] = []

    def receive(block: bool) -> tuple[int, dict] | None:
        calls.append(block)
        if messages:
            return messages.pop(0)
        assert not block, "waited for a message that never comes"
        return None

    def send(*_args: object) -> None:
        raise AssertionError("nothing here has a successor on another worker")

    done = run_planned(part, batch, 1, os.getpid(), lambda _e: None, lambda _r: None,
                       receive, send)
    assert all(result.ok for result in done)
    return [result.index for result in done], calls


def test_a_planned_worker_looks_for_messages_only_while_one_can_come():
    """Looking costs a system call: a worker stops once every message its part awaits has
    arrived, and never looks when its part awaits none."""
    batch = [Transaction(f"t{i}", (Deposit(a, 1),)) for i, a in enumerate("aabb")]
    initial = {"a": (0, "init"), "b": (0, "init")}
    waits_on_t0 = Part([1, 2, 3], {1: 1, 3: 1}, {2: [3]}, {1: [0]}, {}, initial)
    order, calls = _run_part(waits_on_t0, batch, [(0, {"a": (1, "t0", 0)})])
    assert order == [1, 2, 3] and calls == [False]
    alone = Part([2, 3], {3: 1}, {2: [3]}, {}, {}, initial)
    assert _run_part(alone, batch, []) == ([2, 3], [])
