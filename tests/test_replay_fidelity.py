"""``aethel replay`` and the shrinker run a counterexample as the campaign did: with its GIL
switch interval, its worker count and the timeout its executor was made with, all three
recorded in counterexample.json (issue 12). Old counterexamples without the fields replay
with documented defaults; bad values exit 2 naming the field."""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner

from aethel.batchfile import batch_to_json
from aethel.errors import ExecutionTimeout
from aethel.executor import ParallelExecutor
from aethel.model import Batch, Transaction
from aethel.operations import Deposit
from harness.campaign import (
    EXAMPLE_TIMEOUT,
    SWITCH_INTERVAL,
    CampaignConfig,
    close_executors,
    run_campaign,
    shrink,
)
from harness.campaign.timeouts import EXECUTOR_TIMEOUT, with_slow_transaction
from harness.cli import main
from tests.documents import counterexample

SEEN: list[tuple[float, int, float | None]] = []
"""(switch interval, workers, timeout) of every execution of the executors below."""


class Probe(ParallelExecutor):
    """The built-in executor, recording how it was made and the switch interval it runs
    under."""

    def __init__(self, backend: str = "thread", workers: int = 2,
                 timeout: float | None = None) -> None:
        super().__init__(backend, workers, timeout=timeout)

    def execute(self, batch, graph=None):
        SEEN.append((sys.getswitchinterval(), self.workers, self.timeout))
        return super().execute(batch, graph)


class Corrupts(Probe):
    """Reports one unit too many on every account: every example fails."""

    def execute(self, batch, graph=None):
        result = super().execute(batch, graph)
        result.final_states = {a: v + 1 for a, v in result.final_states.items()}
        return result


class CorruptsTimeouts(Probe):
    """Stopped by its timeout, reports the balances one unit too high: only timeout
    examples fail."""

    def execute(self, batch, graph=None):
        try:
            return super().execute(batch, graph)
        except ExecutionTimeout as exc:
            raise ExecutionTimeout("stopped", exc.completed, exc.pending, exc.trace,
                                   {a: v + 1 for a, v in exc.final_states.items()}) from None


@pytest.fixture(autouse=True)
def _fresh():
    SEEN.clear()
    yield
    close_executors()


def campaign(executor: str, **overrides) -> dict:
    config = CampaignConfig(**{"executor": f"{__name__}:{executor}", "backends": ("thread",),
                               "jobs": 1, **overrides})
    with ThreadPoolExecutor(1) as pool:
        result = run_campaign(config, pool)
    assert result.counterexample is not None
    return result.counterexample


def replay(tmp_path: Path, doc: dict, *args: str):
    path = tmp_path / "ce.json"
    path.write_text(json.dumps(doc))
    return CliRunner().invoke(main, ["replay", str(path), "--repeat", "1", *args])


def test_a_counterexample_records_the_switch_interval_workers_and_timeouts(monkeypatch):
    before = sys.getswitchinterval()
    dropping: list[float] = []
    real_drop = shrink.drop_transactions

    def drop(*args, **kwargs):
        dropping.append(sys.getswitchinterval())
        return real_drop(*args, **kwargs)

    monkeypatch.setattr(shrink, "drop_transactions", drop)
    ce = campaign("Corrupts", profile="stress", examples=20, workers=3)
    assert ce["switch_interval"] == 1e-6 and ce["workers"] == 3
    assert ce["example_timeout"] == EXAMPLE_TIMEOUT and ce["executor_timeout"] is None
    assert ce["transactions"] == 1
    # every execution, and every step of the shrinker, ran at the campaign's switch interval
    assert {(round(i, 9), w, t) for i, w, t in SEEN} == {(1e-6, 3, None)}
    assert [round(i, 9) for i in dropping] == [1e-6]
    assert sys.getswitchinterval() == before


def test_a_serial_counterexample_records_the_one_worker_it_ran_with(tmp_path):
    ce = campaign("Corrupts", backends=("serial",), examples=20, workers=4)
    assert ce["backend"] == "serial" and ce["workers"] == 1
    SEEN.clear()
    again = replay(tmp_path, ce, "--executor", f"{__name__}:Corrupts")
    assert again.exit_code == 1, again.output
    assert [w for _, w, _ in SEEN] == [1]


def test_a_timeout_example_s_counterexample_replays_with_its_executor_timeout(
        tmp_path, monkeypatch):
    monkeypatch.setattr(shrink, "SHRINK_SECONDS", 2.0)
    monkeypatch.setattr(shrink, "SMALLER_SEARCH_SECONDS", 1.0)
    ce = campaign("CorruptsTimeouts", examples=20)
    assert ce["executor_timeout"] == EXECUTOR_TIMEOUT
    assert ce["switch_interval"] == SWITCH_INTERVAL and ce["workers"] == 2
    SEEN.clear()
    executor = ["--executor", f"{__name__}:CorruptsTimeouts"]
    again = replay(tmp_path, ce, *executor)
    assert again.exit_code == 1, again.output
    assert f"executor timeout {EXECUTOR_TIMEOUT:g} s" in again.output
    assert [(round(i, 9), w, t) for i, w, t in SEEN] == [(SWITCH_INTERVAL, 2,
                                                          EXECUTOR_TIMEOUT)]
    # the recorded timeout is the one used, not the batch's: without it nothing is stopped
    SEEN.clear()
    untimed = replay(tmp_path, {**ce, "executor_timeout": None}, *executor)
    assert untimed.exit_code == 0, untimed.output
    assert "no executor timeout" in untimed.output and SEEN[0][2] is None


def test_replay_runs_at_the_recorded_switch_interval_with_the_recorded_workers(tmp_path):
    before = sys.getswitchinterval()
    doc = {**counterexample(), "switch_interval": 2e-4, "workers": 3, "executor_timeout": 9.5}
    done = replay(tmp_path, doc, "--executor", f"{__name__}:Probe")
    assert done.exit_code == 0, done.output
    assert [(round(i, 9), w, t) for i, w, t in SEEN] == [(2e-4, 3, 9.5)]
    assert "switch interval 0.0002 s, executor timeout 9.5 s" in done.output
    assert sys.getswitchinterval() == before


def test_an_old_counterexample_replays_with_the_defaults(tmp_path):
    doc = counterexample()
    for key in ("switch_interval", "example_timeout", "executor_timeout"):
        del doc[key]
    done = replay(tmp_path, doc, "--executor", f"{__name__}:Probe")
    assert done.exit_code == 0, done.output
    assert [(round(i, 9), w, t) for i, w, t in SEEN] == [(SWITCH_INTERVAL, 1, None)]
    # a timeout example without the field gets its timeout from the batch's slow transaction
    SEEN.clear()
    slow = with_slow_transaction(Batch({"a": 1}, (Transaction("t1", (Deposit("a", 1),)),)))
    done = replay(tmp_path, {**doc, "batch": batch_to_json(slow)}, "--executor",
                  f"{__name__}:Probe")
    assert done.exit_code == 0, done.output
    assert [t for _, _, t in SEEN] == [EXECUTOR_TIMEOUT]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("switch_interval", 0, "must be a number of seconds in [1e-06, 1], got 0"),
    ("switch_interval", 1e-7, "in [1e-06, 1], got 1e-07"),
    ("switch_interval", 1e30, "got 1e+30"),
    ("switch_interval", float("nan"), "got NaN"),
    ("switch_interval", None, "got null"),
    ("switch_interval", "fast", "got a string"),
    ("example_timeout", 0, "must be a number of seconds in (0, 86400], got 0"),
    ("example_timeout", float("inf"), "got Infinity"),
    ("example_timeout", True, "got true"),
    ("executor_timeout", -1, "must be null or a number of seconds in (0, 86400], got -1"),
    ("executor_timeout", 10**30, "got 1000000000000000000000000000000"),
    ("executor_timeout", [0.05], "got a list"),
])
def test_bad_recorded_settings_exit_2_naming_the_field(tmp_path, field, value, message):
    result = replay(tmp_path, {**counterexample(), field: value})
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"ce.json: {field}: must be " in lines[0], result.stderr
    assert lines[0].endswith(message), lines[0]


def test_verify_takes_no_example_timeout_replay_would_refuse():
    result = CliRunner().invoke(main, ["verify", "--example-timeout", "1e6"])
    assert result.exit_code == 2
    assert "--example-timeout: must be at most 86400, got 1e+06" in result.output
