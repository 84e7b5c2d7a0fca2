"""Timeouts through the protocol: a campaign asks the executor for a timeout, and an
ExecutionError is judged from the final state and trace it carries."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest

from aethel.errors import ExecutionTimeout
from aethel.executor import ParallelExecutor
from aethel.model import ATOMIC, INDEPENDENT, Batch, Transaction
from aethel.operations import Deposit
from harness.campaign import CampaignConfig, check_example, close_executors, run_campaign
from harness.campaign.protocol import accepts_timeout
from harness.campaign.timeouts import (
    EXECUTOR_TIMEOUT,
    SLOW_ID,
    executor_timeout,
    with_slow_transaction,
)
from harness.checks import ATOMICITY
from harness.checks.anomalies import KEPT_WRITE
from harness.checks.builder import TraceBuilder
from harness.mutants import TimeoutKeepsWrites
from harness.pytest_plugin import check_executor


@pytest.fixture(autouse=True)
def _close_cached_executors():
    yield
    close_executors()


def no_timeout_factory(backend: str = "thread", workers: int = 2) -> ParallelExecutor:
    """An executor factory that takes no ``timeout`` keyword."""
    return ParallelExecutor(backend, workers)


def two_deposits(mode: str) -> Batch:
    """Two deposits behind the slow transaction, in ``mode``."""
    batch = with_slow_transaction(Batch({"a": 100, "b": 5}, (
        Transaction("t1", (Deposit("a", 10),)), Transaction("t2", (Deposit("b", 20),)))))
    return replace(batch, mode=mode)


def verdict(verdicts, prop):
    return next(v for v in verdicts if v.property == prop)


class Reports:
    """An executor that raises a timeout carrying a given final state and the trace of
    t1 and t2 committing (the slow transaction cancelled)."""

    workers = 2

    def __init__(self, final_states: dict[str, int]) -> None:
        self.final_states = final_states

    def execute(self, batch: Batch) -> Any:
        trace = (TraceBuilder().start(SLOW_ID)
                 .start("t1").read("t1", "a", 100).write("t1", "a", 110).commit("t1")
                 .start("t2").read("t2", "b", 5).write("t2", "b", 25).commit("t2")
                 .abort(SLOW_ID, "cancelled: batch stopped"))
        raise ExecutionTimeout("batch exceeded its 0.05 s timeout", 2, 1, trace.events,
                               self.final_states)


def test_factories_taking_timeout_are_recognised():
    def kwargs_factory(**kwargs: Any) -> None: ...

    assert accepts_timeout(ParallelExecutor) and accepts_timeout(TimeoutKeepsWrites)
    assert accepts_timeout(kwargs_factory)
    assert not accepts_timeout(no_timeout_factory)


def test_a_timeout_example_is_recognised_from_its_batch():
    assert executor_timeout(two_deposits(ATOMIC)) == EXECUTOR_TIMEOUT
    assert executor_timeout(Batch({"a": 1}, (Transaction("t1", (Deposit("a", 1),)),))) is None


@pytest.mark.parametrize("mode", [INDEPENDENT, ATOMIC])
@pytest.mark.parametrize("backend", ["serial", "thread", "process"])
def test_the_builtin_executor_times_out_rolls_back_and_passes(backend, mode):
    workers = 1 if backend == "serial" else 2
    with ParallelExecutor(backend, workers, timeout=EXECUTOR_TIMEOUT) as executor:
        verdicts = check_executor(executor, two_deposits(mode))
    assert all(v.ok for v in verdicts), [v.lines() for v in verdicts if not v.ok]
    assert "reported a timeout" in verdict(verdicts, ATOMICITY).explanation


def test_a_timeout_that_keeps_its_writes_fails_atomicity_in_plain_words():
    with TimeoutKeepsWrites("thread", 2, timeout=EXECUTOR_TIMEOUT) as executor:
        verdicts = check_executor(executor, two_deposits(ATOMIC))
    atomicity = verdict(verdicts, ATOMICITY)
    assert not atomicity.ok and atomicity.anomalies() == {KEPT_WRITE}
    assert atomicity.counterexample.message.startswith(
        "the executor reported a timeout (batch exceeded its 0.05 s timeout")
    messages = {v.message.rpartition("), but ")[2] for v in atomicity.violations}
    assert messages == {"its final balances keep t1's write to a: 110 instead of 100",
                        "its final balances keep t2's write to b: 25 instead of 5"}


def test_the_final_state_an_error_carries_is_judged_not_replaced():
    rolled_back = check_executor(Reports({"a": 100, "b": 5}), two_deposits(ATOMIC))
    kept = check_executor(Reports({"a": 110, "b": 25}), two_deposits(ATOMIC))
    assert all(v.ok for v in rolled_back), [v.lines() for v in rolled_back if not v.ok]
    assert [v.property for v in kept if not v.ok] == [ATOMICITY]


def test_independent_mode_may_keep_exactly_the_committed_transactions():
    committed = check_executor(Reports({"a": 110, "b": 25}), two_deposits(INDEPENDENT))
    assert all(v.ok for v in committed), [v.lines() for v in committed if not v.ok]
    assert "after exactly the 2 transactions the trace shows committed" in \
        verdict(committed, ATOMICITY).explanation
    mixed = verdict(check_executor(Reports({"a": 110, "b": 5}), two_deposits(INDEPENDENT)),
                    ATOMICITY)
    assert not mixed.ok and mixed.anomalies() == {KEPT_WRITE}
    wrong = verdict(check_executor(Reports({"a": 111, "b": 25}), two_deposits(INDEPENDENT)),
                    ATOMICITY)
    assert not wrong.ok
    assert "keep t1's write to a: 111 instead of 100 (or 110 after exactly the 2 " \
        "transactions the trace shows committed" in wrong.counterexample.message


def test_a_campaign_runs_timeout_examples_with_the_timeout():
    config = CampaignConfig(backends=("thread", "process"))
    checked, failure = check_example(config, two_deposits(ATOMIC))
    assert failure is None
    assert [run.stopped.startswith("a timeout (") for run, _ in checked] == [True, True]


def test_a_factory_without_timeout_is_reported_as_not_exercising_timeouts():
    config = CampaignConfig(executor=f"{__name__}:no_timeout_factory", backends=("thread",),
                            examples=20)
    with ThreadPoolExecutor(1) as pool:
        result = run_campaign(config, pool)
    assert result.ok
    assert "timeouts not exercised" in result.note
    assert result.to_json()["note"] == result.note
    with ThreadPoolExecutor(1) as pool:
        assert run_campaign(CampaignConfig(backends=("thread",), examples=20), pool).note is None
