"""Every mutant executor is killed by its checker within a fixed budget of derandomized
batches; the correct backends give zero violations on the same batches."""

from __future__ import annotations

import sys

import pytest

from aethel.executor import ParallelExecutor
from harness.mutants import MUTANTS, any_violation, hunt, hunt_mutant, judge, table

CORRECT = [("serial", "dataflow"), ("serial", "levels"), ("thread", "dataflow"),
           ("thread", "levels"), ("process", "dataflow"), ("process", "levels")]
HUNTS = {spec.strategy: spec for spec in MUTANTS if spec.timeout is None}  # one sweep each
TIMED = [spec for spec in MUTANTS if spec.timeout is not None]


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
        result = hunt(executor, strategy(), spec.budget, any_violation, spec.switch_interval)
        assert not result.found, f"{strategy.__name__}:\n{failures(result.verdicts)}"
        assert result.examples == spec.budget


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
