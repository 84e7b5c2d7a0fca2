"""The scale measurements: the checkers' throughput steps and the scale table's fits."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from aethel.executor import ParallelExecutor
from harness.bench.throughput import ORACLE, measure, workload
from harness.checks import Observed

SCALE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "measure_scale.py"


def _scale_module():
    spec = importlib.util.spec_from_file_location("measure_scale", SCALE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_checker_is_timed_in_cpu_time_and_holds_on_a_correct_run():
    batch = workload(300, 20, 1)
    with ParallelExecutor("serial", 1) as executor:
        observed = Observed.from_result(executor.execute(batch))
    steps = measure(batch, observed, profile=3)
    names = [s.name for s in steps]
    assert names[0] == "index the trace" and names[-1] == ORACLE
    assert "linearizability (values)" in names and len(names) == 9
    assert all(s.holds and s.cpu_s >= 0 and s.wall_s >= 0 for s in steps)
    assert all("function calls" in s.profile for s in steps)


def test_a_violated_verdict_is_reported_as_such():
    batch = workload(50, 5, 2)
    with ParallelExecutor("serial", 1) as executor:
        result = executor.execute(batch)
    wrong = {account: value + 1 for account, value in result.final_states.items()}
    observed = Observed(result.execution_trace, wrong, None)
    held = {s.name: s.holds for s in measure(batch, observed)}
    assert not held["conservation"] and not held["serial equivalence (compare)"]


def test_the_fitted_exponent_is_the_log_log_slope():
    scale = _scale_module()
    assert scale.slope([(n, 3.0 * n) for n in (10, 100, 1000)]) == pytest.approx(1.0)
    assert scale.slope([(n, n ** 1.5) for n in (10, 100, 1000)]) == pytest.approx(1.5)


def test_one_stage_runs_and_its_row_goes_in_the_table(tmp_path):
    scale = _scale_module()
    rows = [scale.run_stage("analysis", n, 1, tmp_path / "unused") for n in (200, 400)]
    assert all(r["cpu_s"] >= 0 and r["peak_mb"] >= r["base_mb"] > 0 for r in rows)
    lines = scale.table(rows)
    assert any(line.startswith("| analysis | 400 |") for line in lines)
    assert any(line.startswith("| analysis | ") and " / " in line for line in lines)
