"""Every mutant executor is killed by its checker within a fixed budget of derandomized
batches; the correct backends give zero violations on the same batches (the first
:data:`SWEEP` of each hunt, and the batch that killed each mutant)."""

from __future__ import annotations

import sys

import pytest

from aethel.executor import ParallelExecutor
from aethel.model import MAX_AMOUNT, Batch, Transaction
from aethel.operations import Deposit, Read, Transfer, Withdraw
from harness.mutants import MUTANTS, any_violation, hunt, hunt_mutant, judge, table
from harness.mutants.executors import HotAccountLostUpdate

CORRECT = [("serial", "dataflow"), ("serial", "levels"), ("thread", "dataflow"),
           ("thread", "levels"), ("process", "dataflow"), ("process", "levels")]
HUNTS = {spec.strategy: spec for spec in MUTANTS if spec.timeout is None}  # one sweep each
TIMED = [spec for spec in MUTANTS if spec.timeout is not None]
SWEEP = 60
"""Batches of each hunt the correct backends run (a race's hunt has a budget of thousands)."""


@pytest.fixture(scope="module")
def correct_executors():
    executors = {(b, s): ParallelExecutor(b, 1 if b == "serial" else 2, s) for b, s in CORRECT}
    yield executors
    for executor in executors.values():
        executor.close()


def failures(verdicts):
    return "\n".join(line for v in verdicts if not v.ok for line in v.lines())


@pytest.mark.parametrize("spec", MUTANTS, ids=lambda spec: spec.name)
def test_mutant_is_killed_and_correct_backends_pass_the_killing_batch(spec, correct_executors):
    interval = sys.getswitchinterval()
    found = hunt_mutant(spec)
    assert sys.getswitchinterval() == interval
    assert found.found, f"{spec.name} survived {spec.budget} examples"
    verdict = found.verdict(spec.killer)
    assert not verdict.ok and verdict.anomalies() & spec.anomalies
    assert 1 <= found.examples <= spec.budget
    for name, executor in correct_executors.items():
        verdicts = judge(executor, found.batch)
        assert not any_violation(verdicts), f"{name}:\n{failures(verdicts)}"


@pytest.mark.parametrize("backend,schedule", CORRECT)
def test_correct_backends_pass_every_hunt(backend, schedule, correct_executors):
    executor = correct_executors[(backend, schedule)]
    for strategy, spec in HUNTS.items():
        budget = min(spec.budget, SWEEP)
        result = hunt(executor, strategy(), budget, any_violation, spec.switch_interval)
        assert not result.found, f"{strategy.__name__}:\n{failures(result.verdicts)}"
        assert result.examples == budget


@pytest.mark.parametrize("spec", TIMED, ids=lambda spec: spec.name)
@pytest.mark.parametrize("backend", ["serial", "thread", "process"])
def test_correct_backends_with_the_timeout_pass_the_timeout_hunt(backend, spec):
    workers = 1 if backend == "serial" else 2
    with ParallelExecutor(backend, workers, timeout=spec.timeout) as executor:
        result = hunt(executor, spec.strategy(), spec.budget, any_violation)
    assert not result.found, failures(result.verdicts)
    assert result.examples == spec.budget


def test_table_has_a_row_per_mutant():
    [spec] = [s for s in MUTANTS if s.name == "UndeclaredAccess"]
    header, rule, row = table((spec,))
    assert header.startswith("| # | mutant | bug class | killed by |") and rule.startswith("|---")
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:5] == ["UndeclaredAccess", "undeclared accesses not enforced", "isolation",
                          "undeclared access"]
    assert int(cells[5]) <= spec.budget


def tx(tx_id: str, *ops, after: tuple[str, ...] = ()) -> Transaction:
    return Transaction(tx_id, tuple(ops), after=after)


CHAIN = Batch({"a": 10, "b": 0}, (tx("t1", Deposit("a", 5)), tx("t2", Read("a"))))

MINIMAL_BATCHES = {
    # a deposit, then a withdrawal that needs it; a self-transfer that creates money
    "OwnWriteNotSeen": Batch({"a": 10}, (tx("t1", Deposit("a", 5), Withdraw("a", 12)),
                                         tx("t2", Transfer("a", "a", 3)))),
    # the second deposit overflows: serially it fails, the mutant clamps it
    "SaturatingOverflow": Batch({"a": 0}, (tx("t1", Deposit("a", MAX_AMOUNT - 1)),
                                           tx("t2", Deposit("a", 2)))),
    # emptying an account
    "OffByOneFunds": Batch({"a": 10, "b": 0}, (tx("t1", Transfer("a", "b", 10)),)),
    "WrongReadVersion": CHAIN,
    "SkewedClock": CHAIN,
    # t1 must follow t2, which the mutant runs second
    "IgnoresForwardAfter": Batch({"a": 10}, (tx("t1", Withdraw("a", 15), after=("t2",)),
                                             tx("t2", Deposit("a", 5)))),
}


@pytest.mark.parametrize("name", sorted(MINIMAL_BATCHES))
def test_a_deterministic_bug_shows_on_a_minimal_batch(name, correct_executors):
    [spec] = [s for s in MUTANTS if s.name == name]
    batch = MINIMAL_BATCHES[name]
    with spec.create() as executor:
        verdict = next(v for v in judge(executor, batch) if v.property == spec.killer)
    assert verdict.anomalies() & spec.anomalies, verdict.lines()
    assert not any_violation(judge(correct_executors[("thread", "dataflow")], batch))


@pytest.mark.parametrize("backend", ["serial", "process"])
def test_the_install_cache_race_needs_worker_threads(backend):
    [spec] = [s for s in MUTANTS if s.executor is HotAccountLostUpdate]
    with HotAccountLostUpdate(backend, 1 if backend == "serial" else 2) as executor:
        result = hunt(executor, spec.strategy(), SWEEP, any_violation, spec.switch_interval)
    assert not result.found, failures(result.verdicts)
